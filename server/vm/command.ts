/**
 * Runs a lifetrace command inside a QEMU guest. The command line travels as JSON in the exchange
 * folder and is read back by the hidden `guest-run` command: nothing the user typed is ever
 * interpolated into the guest's shell script.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../support/paths.js';
import { ok, type Result } from '../support/result.js';
import { GUEST_XCH, runInGuest, STOP_FILE, type GuestResult } from './guest.js';
import { kernelLabel, type GuestKernel } from './kernels.js';

export interface GuestCommand {
  argv: string[];
  cwd: string;
  stdoutFile?: string;
  /** When this file appears, the command is sent SIGINT (the host's Ctrl-C, passed on). */
  stopFile?: string;
}

export interface GuestCommandOptions {
  /** Undefined: as long as the command runs. */
  timeoutS?: number | undefined;
  log: (s: string) => void;
  cwd?: string | undefined;
  onBoot?(xch: string): void;
  /** Each line the command prints, as it comes. */
  onLog?(line: string): void;
  /** Aborting asks the command to stop as Ctrl-C would (see GuestJob.signal). */
  signal?: AbortSignal | undefined;
  /** Aborting kills the guest at once. */
  kill?: AbortSignal | undefined;
}

/**
 * How long a guest running a capture may take: a run lasts as long as its command (a stress test
 * runs as long as it runs; Ctrl-C stops it). Only --duration, or a stress preset alone (which ends
 * by itself), bounds it, with room to boot and to attach the probes under TCG.
 */
export function captureBudgetS(o: {
  durationS?: number | undefined;
  stress?: string | undefined;
  command?: string[] | undefined;
}): number | undefined {
  if (o.durationS === undefined && (o.command || !o.stress)) return undefined;
  return 240 + (o.durationS ?? 10) * 3;
}

/** A word for the guest's sh, quoted (for paths the project chose, never for user input: see above). */
export const shQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The command's run in a guest; an error when the guest cannot be set up (see prepareGuest). */
export async function runLifetraceInGuest(
  kernel: GuestKernel,
  argv: string[],
  o: GuestCommandOptions,
): Promise<Result<GuestResult & { stdout: string }>> {
  const job: GuestCommand = { argv, cwd: o.cwd ?? PROJECT_ROOT, stdoutFile: `${GUEST_XCH}/stdout`, stopFile: `${GUEST_XCH}/${STOP_FILE}` };
  const script = ['set -e', `cd ${shQuote(PROJECT_ROOT)}`, `exec node dist/server/cli/main.js guest-run ${GUEST_XCH}/job.json`].join('\n');
  o.log(`lifetrace: booting ${kernelLabel(kernel)} in QEMU (TCG) for: lifetrace ${argv.join(' ')}`);
  const r = await runInGuest(
    {
      kernel,
      script,
      files: { 'job.json': JSON.stringify(job) },
      ...(o.timeoutS !== undefined ? { timeoutS: o.timeoutS } : {}),
      ...(o.onBoot ? { onBoot: o.onBoot } : {}),
      ...(o.onLog ? { onLog: o.onLog } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.kill ? { kill: o.kill } : {}),
    },
    o.log,
  );
  if (!r.ok) return r;
  const stdout = await readFile(join(r.value.xch, 'stdout'), 'utf8').catch(() => '');
  return ok({ ...r.value, stdout });
}
