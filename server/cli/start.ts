/** `npm start`: until the live dashboard exists, analyze the bundled sample so a new user sees output. */
import { fileURLToPath } from 'node:url';
import { analyzeCommand } from './analyze.js';

export const SAMPLE_CAPTURE = fileURLToPath(new URL('../../../test/fixtures/sample.ljsonl.gz', import.meta.url));

export async function startCommand(argv: string[], print: (s: string) => void): Promise<number> {
  print(`lifetrace: analyzing the bundled sample capture ${SAMPLE_CAPTURE}\n\n`);
  return analyzeCommand([SAMPLE_CAPTURE, ...argv], print);
}
