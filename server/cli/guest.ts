/**
 * Runs a lifetrace command inside a QEMU guest. The command line travels as JSON in the exchange
 * folder and is read back by the hidden `guest-run` command: nothing the user typed is ever
 * interpolated into the guest's shell script.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../support/paths.js';
import { GUEST_XCH, runInGuest, type GuestResult } from '../vm/guest.js';
import type { GuestKernel } from '../vm/kernels.js';
import { UsageError } from './args.js';

export interface GuestCommand {
  argv: string[];
  cwd: string;
  stdoutFile?: string;
}

const shQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export async function runGuestCommand(
  kernel: GuestKernel, argv: string[], o: { timeoutS: number; log: (s: string) => void; cwd?: string },
): Promise<GuestResult & { stdout: string }> {
  const job: GuestCommand = { argv, cwd: o.cwd ?? PROJECT_ROOT, stdoutFile: `${GUEST_XCH}/stdout` };
  const script = [
    'set -e',
    `cd ${shQuote(PROJECT_ROOT)}`,
    `exec node dist/server/cli/main.js guest-run ${GUEST_XCH}/job.json`,
  ].join('\n');
  o.log(`lifetrace: booting a Debian ${kernel} kernel in QEMU (TCG) for: lifetrace ${argv.join(' ')}`);
  const r = await runInGuest({ kernel, script, timeoutS: o.timeoutS, files: { 'job.json': JSON.stringify(job) } }, o.log);
  const stdout = await readFile(join(r.xch, 'stdout'), 'utf8').catch(() => '');
  if (r.exitCode === undefined) {
    throw new UsageError(`the guest did not finish (${r.seconds.toFixed(0)} s):\n${r.jobLog.slice(-2000)}${r.console.slice(-1500)}`);
  }
  return { ...r, stdout };
}

/** The guest side: run the command line from the job file, its stdout into a file of the share. */
export async function guestRun(argv: string[], main: (argv: string[], print: (s: string) => void) => Promise<number>): Promise<number> {
  const job = JSON.parse(await readFile(argv[0]!, 'utf8')) as GuestCommand;
  process.chdir(job.cwd);
  const chunks: string[] = [];
  const code = await main(job.argv, (s) => {
    chunks.push(s);
    process.stdout.write(s);
  });
  if (job.stdoutFile) await writeFile(job.stdoutFile, chunks.join(''));
  return code;
}
