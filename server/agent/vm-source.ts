/** The agent's source on a stock Debian kernel in a QEMU guest, followed through a shared folder. */
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { parseHeader } from '../capture/header.js';
import { byteLines } from '../capture/lines.js';
import { Tail } from '../capture/tail.js';
import type { Family } from '../model/events.js';
import type { StressPreset } from '../recorder/stress.js';
import { captureBudgetS, runLifetraceInGuest } from '../vm/command.js';
import { GUEST_XCH } from '../vm/guest.js';
import { kernelLabel, type GuestKernel } from '../vm/kernels.js';
import { err, ok, type Result } from '../support/result.js';
import { rulesFor, tagsOfFamilies, type LineSource } from './sources.js';

export interface VmOptions {
  kernel: GuestKernel;
  families?: Family[] | undefined;
  /** What the guest runs while tracing: at least one of these. */
  durationS?: number | undefined;
  stress?: StressPreset | undefined;
  command?: string[] | undefined;
  log(s: string): void;
}

/**
 * The probes on a stock Debian kernel in a QEMU guest (this machine's kernel may not attach
 * kprobes). The guest has no network: it records a capture into the shared exchange folder, and
 * this side follows that file as it grows. Resolves once the guest has written the capture header;
 * an error when the guest cannot be set up or ends before its capture begins.
 */
export async function vmSource(o: VmOptions): Promise<Result<LineSource>> {
  const argv = ['capture', '--out', `${GUEST_XCH}/capture.ljsonl`, ...(o.families ? ['--families', o.families.join(',')] : [])];
  if (o.durationS !== undefined) argv.push('--duration', String(o.durationS));
  if (o.stress) argv.push('--stress', o.stress);
  if (o.command) argv.push('--', ...o.command);
  const abort = new AbortController();
  let file: string | undefined;
  const guest = runLifetraceInGuest(o.kernel, argv, {
    timeoutS: captureBudgetS(o),
    log: o.log,
    cwd: process.cwd(),
    signal: abort.signal,
    onBoot: (xch) => {
      file = join(xch, 'capture.ljsonl');
    },
  });
  let finished = false;
  void guest
    .finally(() => {
      finished = true;
    })
    .catch(() => {});

  // The lines read before the source runs (the header, first of all), copied out of the tail's buffer.
  const early: Buffer[] = [];
  let emit = (line: Buffer): void => void early.push(Buffer.from(line));
  let tail: Tail | undefined;
  let tailFile: string | undefined;
  const drain = async (): Promise<void> => {
    if (file === undefined || !existsSync(file)) return;
    if (tailFile !== file) {
      tail = new Tail(
        await open(file, 'r'),
        byteLines((l) => emit(l)),
      ); // a new boot: a new file
      tailFile = file;
    }
    await tail!.drain();
  };
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  while (early.length === 0) {
    if (finished) {
      const ran = await guest;
      if (!ran.ok) return ran;
      const r = ran.value;
      return err(
        `the ${kernelLabel(o.kernel)} guest ended before its capture began (exit ${String(r.exitCode)}):\n${r.jobLog.slice(-2000)}`,
      );
    }
    await drain();
    await sleep(100);
  }
  const h = parseHeader(early.shift()!.toString('utf8'));
  if (!h.ok) {
    abort.abort();
    return err(`the guest's capture has no valid header: ${h.error}`);
  }
  const tags = tagsOfFamilies(Object.keys(h.value.families) as Family[]);
  return ok({
    info: { header: h.value, mode: 'live', label: `${kernelLabel(o.kernel)} in QEMU`, rules: rulesFor(tags) },
    async run(onLine) {
      for (const l of early) onLine(l);
      emit = onLine;
      while (!finished) {
        await drain();
        await sleep(100);
      }
      await drain();
      tail?.flush();
      const ran = await guest;
      if (abort.signal.aborted) return 'stopped';
      if (!ran.ok) return ran.error; // cannot be: the guest booted, its capture began
      const r = ran.value;
      return r.exitCode === 0
        ? "the guest's capture ended"
        : `the guest's capture failed (exit ${String(r.exitCode)}): ${r.jobLog.slice(-500)}`;
    },
    stop() {
      abort.abort();
    },
  });
}
