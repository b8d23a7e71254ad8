/**
 * Where an agent's lines come from: the probes on this kernel (bpftrace), or a capture file
 * replayed as if it were live (to simulate agents, to demo, to benchmark). Either way the lines
 * are the capture format's raw lines, sent on untouched.
 */
import { hostname } from 'node:os';
import { LineSplitter, textLines } from '../capture/lines.js';
import { openCapture } from '../capture/open.js';
import { looksLikeHeader, parseHeader, CAPTURE_FORMAT, CAPTURE_VERSION, type CaptureHeader } from '../capture/header.js';
import { ruleCoverage } from '../analyze/coverage.js';
import { FAMILY_DECODERS } from '../decode/decoder.js';
import type { Family } from '../model/events.js';
import type { RuleState, StreamMode } from '../protocol/wire.js';
import { startBpftrace, type BpftraceRun } from '../record/bpftrace.js';
import { CaptureError, prepareRecording } from '../record/record.js';
import { Tail } from '../capture/tail.js';
import { runLifetraceInGuest } from '../vm/command.js';
import { GUEST_XCH } from '../vm/guest.js';
import type { GuestKernel } from '../vm/kernels.js';
import type { StressPreset } from '../record/stress.js';
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';

export interface SourceInfo {
  header: CaptureHeader;
  mode: StreamMode;
  label?: string;
  rules: { id: string; status: RuleState }[];
}

/** Resolves when more lines may be produced (flow control; only a replay can wait). */
export type Backpressure = () => Promise<void> | undefined;

export interface LineSource {
  readonly info: SourceInfo;
  /** Produces lines until the source ends or stop() is called; resolves with why it ended. */
  run(onLine: (line: string) => void, wait: Backpressure): Promise<string>;
  stop(): void;
}

const rulesFor = (tags: ReadonlySet<string>): SourceInfo['rules'] => ruleCoverage(tags).map((r) => ({ id: r.id, status: r.status }));

/** Restarts of a bpftrace that keeps dying before it attaches, before the agent gives up. */
const MAX_FAILED_STARTS = 5;
const PRINTF_NSECS = /^\{"type": "printf", "data": "[^"\\]*\\t(\d{1,20})\\t/;

/**
 * The probes on this machine's kernel, through bpftrace. If bpftrace dies (killed, OOM), it is
 * started again, and the time it was not running goes into the stream as a `lifetrace_gap` record
 * (docs/capture-format.md): from its last record to the new run's first, in kernel time, so that
 * no rule claims certainty across it.
 */
export async function bpftraceSource(families: Family[] | undefined, log: (s: string) => void): Promise<LineSource> {
  const { header, program } = await prepareRecording({ families, header: { agent: true }, log });
  let run: BpftraceRun | undefined;
  let stopped = false;
  let wake: (() => void) | undefined;
  return {
    info: { header, mode: 'live', rules: rulesFor(program.tags) },
    async run(onLine) {
      let lastNs: string | undefined; // kernel time of the newest record of the running bpftrace
      let gapFrom: { ns: string; why: string } | undefined;
      let failed = 0;
      for (let round = 1; ; round++) {
        const current = await startBpftrace(program.text, {
          onLine(line) {
            const ns = PRINTF_NSECS.exec(line)?.[1];
            if (ns !== undefined) {
              if (gapFrom !== undefined && line.startsWith('{"type": "printf", "data": "ready\\t')) {
                // The new run's probes are attached as of this record: the gap ends here.
                onLine(line);
                onLine(JSON.stringify({ type: 'lifetrace_gap', data: { from: gapFrom.ns, to: ns, reason: gapFrom.why } }));
                gapFrom = undefined;
                return;
              }
              lastNs = ns;
            }
            onLine(line);
          },
        });
        run = current;
        if (stopped) await current.stop();
        const attached = await current.attached.then(() => true, () => false);
        if (attached) {
          failed = 0;
          log(round === 1 ? `lifetrace: probes attached on ${header.kernel}` : 'lifetrace: bpftrace restarted; the time it was down is recorded as a gap');
        }
        const { exitCode, errors } = await current.done;
        if (stopped) return 'stopped';
        const why = `bpftrace exited (${String(exitCode)})${errors.length ? `: ${errors.slice(-3).join(' | ')}` : ''}`;
        if (!attached && ++failed >= MAX_FAILED_STARTS) return `${why}; gave up after ${failed} failed starts`;
        log(`lifetrace: ${why}; starting it again`);
        gapFrom ??= { ns: lastNs ?? (process.hrtime.bigint()).toString(), why: `${why}; restarted by the agent` };
        // Back off when it keeps failing to start.
        await new Promise<void>((r) => { wake = r; setTimeout(r, Math.min(30_000, 500 * 2 ** failed)); });
        if (stopped) return 'stopped';
      }
    },
    stop() {
      stopped = true;
      wake?.();
      void run?.stop();
    },
  };
}

export interface VmOptions {
  kernel: GuestKernel;
  families?: Family[] | undefined;
  /** What the guest runs while tracing: at least one of these (the guest cannot be told to stop). */
  durationS?: number | undefined;
  stress?: StressPreset | undefined;
  command?: string[] | undefined;
  log(s: string): void;
}

/**
 * The probes on a stock Debian kernel in a QEMU guest (this machine's kernel may not attach
 * kprobes). The guest has no network: it records a capture into the shared exchange folder, and
 * this side follows that file as it grows. Resolves once the guest has written the capture header.
 */
export async function vmSource(o: VmOptions): Promise<LineSource> {
  const argv = ['capture', '--out', `${GUEST_XCH}/capture.ljsonl`, ...(o.families ? ['--families', o.families.join(',')] : [])];
  if (o.durationS !== undefined) argv.push('--duration', String(o.durationS));
  if (o.stress) argv.push('--stress', o.stress);
  if (o.command) argv.push('--', ...o.command);
  const abort = new AbortController();
  let file: string | undefined;
  const guest = runLifetraceInGuest(o.kernel, argv, {
    timeoutS: 240 + (o.durationS ?? 60) * 3, log: o.log, cwd: process.cwd(), signal: abort.signal,
    onBoot: (xch) => { file = join(xch, 'capture.ljsonl'); },
  });
  let finished = false;
  void guest.finally(() => { finished = true; }).catch(() => {});

  const early: string[] = [];
  let emit = (line: string): void => void early.push(line);
  let tail: Tail | undefined;
  let tailFile: string | undefined;
  const drain = async (): Promise<void> => {
    if (file === undefined || !existsSync(file)) return;
    if (tailFile !== file) {
      tail = new Tail(await open(file, 'r'), (l) => emit(l)); // a new boot: a new file
      tailFile = file;
    }
    await tail!.drain();
  };
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  while (early.length === 0) {
    if (finished) {
      const r = await guest;
      throw new CaptureError(`the ${o.kernel} guest ended before its capture began (exit ${String(r.exitCode)}):\n${r.jobLog.slice(-2000)}`);
    }
    await drain();
    await sleep(100);
  }
  const h = parseHeader(early.shift()!);
  if (!h.ok) {
    abort.abort();
    throw new CaptureError(`the guest's capture has no valid header: ${h.error}`);
  }
  const families = Object.keys(h.header.families) as Family[];
  const tags = new Set(FAMILY_DECODERS.filter((d) => families.includes(d.family)).flatMap((d) => d.records.map((r) => r.tag)));
  return {
    info: { header: h.header, mode: 'live', label: `Debian ${o.kernel} in QEMU`, rules: rulesFor(tags) },
    async run(onLine) {
      for (const l of early) onLine(l);
      emit = onLine;
      while (!finished) {
        await drain();
        await sleep(100);
      }
      await drain();
      tail?.flush();
      const r = await guest;
      if (abort.signal.aborted) return 'stopped';
      return r.exitCode === 0 ? 'the guest\'s capture ended' : `the guest's capture failed (exit ${String(r.exitCode)}): ${r.jobLog.slice(-500)}`;
    },
    stop() {
      abort.abort();
    },
  };
}

export type ReplaySpeed = number | 'max';

const PRINTF_TIME = /^\{"type": "printf", "data": "[^"\\]*\\t(\d{1,20})\\t/;

/**
 * A capture file replayed: at `speed` times the pace of its kernel timestamps, or as fast as the
 * server takes it ('max', with flow control). The header line goes in the hello, not in the stream.
 */
export async function replaySource(path: string, speed: ReplaySpeed, host = hostname()): Promise<LineSource> {
  const header = await readHeader(path, host);
  const families = Object.keys(header.families) as Family[];
  const tags = new Set(FAMILY_DECODERS.filter((d) => families.includes(d.family)).flatMap((d) => d.records.map((r) => r.tag)));
  let stopped = false;
  let wake: (() => void) | undefined;
  return {
    info: { header, mode: 'replay', label: path, rules: rulesFor(tags) },
    async run(onLine, wait) {
      const stream = await openCapture(path);
      let first = true;
      let t0 = -1;
      let wall0 = 0;
      const pending: string[] = [];
      const split = new LineSplitter(textLines((line) => {
        if (first) {
          first = false;
          if (looksLikeHeader(line)) return;
        }
        pending.push(line);
      }));
      try {
        for await (const chunk of stream) {
          split.push(chunk as Buffer);
          for (const line of pending) {
            if (stopped) return 'stopped';
            if (speed !== 'max') {
              const m = PRINTF_TIME.exec(line);
              if (m !== null) {
                const t = Number(m[1]) / 1e6; // ms; sub-ms precision is plenty for pacing
                if (t0 < 0) {
                  t0 = t;
                  wall0 = performance.now();
                }
                const due = wall0 + (t - t0) / speed - performance.now();
                if (due > 2) await new Promise<void>((r) => { wake = r; setTimeout(r, due); });
              }
            }
            onLine(line);
          }
          pending.length = 0;
          await wait();
        }
        split.end();
        for (const line of pending) onLine(line);
      } catch (e) {
        return `the capture could not be read to its end: ${(e as Error).message}`;
      } finally {
        void stream.return(undefined);
      }
      return stopped ? 'stopped' : 'end of capture';
    },
    stop() {
      stopped = true;
      wake?.();
    },
  };
}

/** The capture's header, or one made up for a raw bpftrace file without one. */
async function readHeader(path: string, host: string): Promise<CaptureHeader> {
  const stream = await openCapture(path);
  let firstLine: string | undefined;
  const split = new LineSplitter(textLines((line) => { firstLine ??= line; }));
  for await (const chunk of stream) {
    split.push(chunk as Buffer);
    if (firstLine !== undefined) break;
  }
  void stream.return(undefined);
  if (firstLine !== undefined && looksLikeHeader(firstLine)) {
    const h = parseHeader(firstLine);
    if (!h.ok) throw new Error(`${path}: ${h.error}`);
    return { ...h.header, host };
  }
  return { format: CAPTURE_FORMAT, version: CAPTURE_VERSION, created: new Date().toISOString(), host, kernel: 'unknown', families: {}, lifetrace_version: 'unknown' };
}
