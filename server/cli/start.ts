/**
 * `npm start`: until the live dashboard exists, analyze the bundled sample so a new user sees output.
 * The sample is a real capture of test/kernel/workloads.py on Debian's 6.1 kernel under QEMU.
 */
import { projectPath } from '../support/paths.js';
import { analyzeCommand } from './analyze.js';

export const SAMPLE_CAPTURE = projectPath('test', 'fixtures', 'sample.ljsonl.gz');

export async function startCommand(argv: string[], print: (s: string) => void): Promise<number> {
  print(`lifetrace: analyzing the bundled sample, a real capture from Debian's 6.1 kernel under QEMU: ${SAMPLE_CAPTURE}\n\n`);
  return analyzeCommand([SAMPLE_CAPTURE, ...argv], print);
}
