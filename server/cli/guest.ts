/** `--vm` for the commands: a lifetrace command run inside a QEMU guest (see vm/command.ts). */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { runLifetraceInGuest, type GuestCommand, type GuestCommandOptions } from '../vm/command.js';
import { guestUnfinished, type GuestResult } from '../vm/guest.js';
import type { GuestKernel } from '../vm/kernels.js';
import { err, type Result } from '../support/result.js';

export async function runGuestCommand(
  kernel: GuestKernel,
  argv: string[],
  o: GuestCommandOptions,
): Promise<Result<GuestResult & { stdout: string }>> {
  const r = await runLifetraceInGuest(kernel, argv, o);
  if (!r.ok) return r;
  return r.value.exitCode === undefined ? err(guestUnfinished(r.value)) : r;
}

/** The guest side: run the command line from the job file, its stdout into a file of the share. */
export async function guestRun(argv: string[], main: (argv: string[], print: (s: string) => void) => Promise<number>): Promise<number> {
  const job = JSON.parse(await readFile(argv[0]!, 'utf8')) as GuestCommand;
  process.chdir(job.cwd);
  // The host's Ctrl-C arrives as a file in the share: passed on as the SIGINT a local Ctrl-C would
  // be, once the command listens for it (a capture still starting would otherwise just die).
  const watch = setInterval(() => {
    if (job.stopFile && existsSync(job.stopFile) && process.listenerCount('SIGINT') > 0) {
      clearInterval(watch);
      process.kill(process.pid, 'SIGINT');
    }
  }, 250);
  watch.unref();
  const chunks: string[] = [];
  try {
    const code = await main(job.argv, (s) => {
      chunks.push(s);
      process.stdout.write(s);
    });
    if (job.stdoutFile) await writeFile(job.stdoutFile, chunks.join(''));
    return code;
  } finally {
    clearInterval(watch);
  }
}
