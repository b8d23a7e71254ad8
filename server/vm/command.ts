/**
 * Runs a lifetrace command inside a QEMU guest. The command line travels as JSON in the exchange
 * folder and is read back by the hidden `guest-run` command: nothing the user typed is ever
 * interpolated into the guest's shell script.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../support/paths.js';
import { GUEST_XCH, runInGuest, type GuestResult } from './guest.js';
import { kernelLabel, type GuestKernel } from './kernels.js';

export interface GuestCommand {
  argv: string[];
  cwd: string;
  stdoutFile?: string;
}

export interface GuestCommandOptions {
  timeoutS: number;
  log: (s: string) => void;
  cwd?: string | undefined;
  onBoot?(xch: string): void;
  signal?: AbortSignal | undefined;
}

/** A word for the guest's sh, quoted (for paths the project chose, never for user input: see above). */
export const shQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export async function runLifetraceInGuest(kernel: GuestKernel, argv: string[], o: GuestCommandOptions): Promise<GuestResult & { stdout: string }> {
  const job: GuestCommand = { argv, cwd: o.cwd ?? PROJECT_ROOT, stdoutFile: `${GUEST_XCH}/stdout` };
  const script = [
    'set -e',
    `cd ${shQuote(PROJECT_ROOT)}`,
    `exec node dist/server/cli/main.js guest-run ${GUEST_XCH}/job.json`,
  ].join('\n');
  o.log(`lifetrace: booting ${kernelLabel(kernel)} in QEMU (TCG) for: lifetrace ${argv.join(' ')}`);
  const r = await runInGuest({
    kernel, script, timeoutS: o.timeoutS, files: { 'job.json': JSON.stringify(job) },
    ...(o.onBoot ? { onBoot: o.onBoot } : {}), ...(o.signal ? { signal: o.signal } : {}),
  }, o.log);
  const stdout = await readFile(join(r.xch, 'stdout'), 'utf8').catch(() => '');
  return { ...r, stdout };
}
