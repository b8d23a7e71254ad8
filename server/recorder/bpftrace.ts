/**
 * Runs a resolved probe program under bpftrace and hands back its output lines as they come. The
 * program goes to a file and bpftrace gets an argument array (no shell).
 *
 * bpftrace writes its output to a file of its own (-o), which this side tails. Reading its stdout
 * through a pipe made bpftrace wait on us whenever this process got little CPU (a stressed guest),
 * and a waiting bpftrace drains no kernel buffers: events were lost at a few thousand a second.
 *
 * Buffers: the per-CPU output ring (BPFTRACE_PERF_RB_PAGES: 1 MB a CPU; bpftrace 0.17 was seen to
 * stall for good on a 6.12 guest with 4 MB rings after some 30k events) and the map sizes.
 */
import { mkdtemp, open, writeFile } from 'node:fs/promises';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { byteLines, hasPrefix } from '../capture/lines.js';
import { Tail } from '../capture/tail.js';

export interface BpftraceRun {
  /** Resolves once every probe is attached (the BEGIN probe's `ready` record); rejects if bpftrace failed before. */
  attached: Promise<number>;
  /** Ends bpftrace (SIGINT: it prints its maps and exits), waits for it and reads the rest of its output. */
  stop(): Promise<void>;
  /** Resolves when bpftrace exits, with what it printed on stderr that matters. */
  done: Promise<BpftraceExit>;
}

export interface BpftraceExit {
  /** Undefined when a signal ended it. */
  exitCode: number | undefined;
  /** The signal that ended it (e.g. SIGKILL), if one did. */
  signal: string | undefined;
  errors: string[];
}

/** How bpftrace ended, for a log line: "exit 1", "killed by SIGKILL". */
export function describeExit(e: Pick<BpftraceExit, 'exitCode' | 'signal'>): string {
  if (e.signal !== undefined) return `killed by ${e.signal}`;
  return e.exitCode === undefined ? 'ended, status unknown' : `exit ${e.exitCode}`;
}

export interface BpftraceOptions {
  /**
   * Each line bpftrace printed, as its bytes, never decoded (a capture keeps them exactly as
   * emitted): a view valid only during the call.
   */
  onLine(line: Buffer): void;
  perfPages?: number;
  mapKeys?: number;
}

const READY = Buffer.from('{"type": "printf", "data": "ready\\t');
const ATTACHED = Buffer.from('{"type": "attached_probes"');
const PRINTF = Buffer.from('{"type": "printf"');
const LOST = Buffer.from('{"type": "lost_events"');

/** Whether a line is common.bt's BEGIN record (every probe is attached from here on): no probe record. */
export function isReadyMarker(line: Uint8Array): boolean {
  return hasPrefix(line, READY);
}

/** Whether a line is a printf record (a probe's, or the ready marker). */
export const isPrintf = (line: Uint8Array): boolean => hasPrefix(line, PRINTF);

/** The events a lost_events line says were lost (0 for any other line). */
export function lostEvents(line: Buffer): number {
  if (!hasPrefix(line, LOST)) return 0;
  return Number(/"(?:events|count)": (\d+)/.exec(line.toString('latin1'))?.[1] ?? 0);
}
const TAIL_MS = 100;

/** stderr noise bpftrace 0.17 prints on every start. */
const NOISE = /RLIMIT_MEMLOCK|is not traceable|attaching to it will likely fail|^\s*$|^~+$|^\s*(kprobe|kretprobe|tracepoint):/;

export async function startBpftrace(program: string, opts: BpftraceOptions): Promise<BpftraceRun> {
  const dir = await mkdtemp(join(tmpdir(), 'lifetrace-bt-'));
  const file = join(dir, 'lifetrace.bt');
  const output = join(dir, 'output.jsonl');
  await writeFile(file, program);
  await writeFile(output, '');
  const fh = await open(output, 'r');

  let probes = 0;
  let attachedResolve!: (n: number) => void;
  let attachedReject!: (e: Error) => void;
  const attached = new Promise<number>((res, rej) => {
    attachedResolve = res;
    attachedReject = rej;
  });
  attached.catch(() => {});
  const tail = new Tail(
    fh,
    byteLines((line) => {
      if (hasPrefix(line, ATTACHED)) probes = Number(/"probes": (\d+)/.exec(line.toString('latin1'))?.[1] ?? 0);
      else if (isReadyMarker(line)) attachedResolve(probes);
      opts.onLine(line);
    }),
  );

  const child: ResultPromise = execa('bpftrace', ['-f', 'json', '-o', output, file], {
    reject: false,
    stdin: 'ignore',
    buffer: false,
    env: {
      BPFTRACE_PERF_RB_PAGES: String(opts.perfPages ?? Number(process.env.LIFETRACE_PERF_PAGES ?? 256)),
      BPFTRACE_MAP_KEYS_MAX: String(opts.mapKeys ?? 65536),
      BPFTRACE_STRLEN: '64',
    },
  });
  // The tracer drains the kernel's buffers: it must not starve behind the workload it watches.
  try {
    if (child.pid !== undefined) setPriority(child.pid, -15);
  } catch {
    // not root: best effort
  }
  const errors: string[] = [];
  let errCarry = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    const lines = (errCarry + chunk).split('\n');
    errCarry = lines.pop()!;
    for (const l of lines) if (!NOISE.test(l)) errors.push(l);
  });

  let exited = false;
  let reading = Promise.resolve();
  const timer = setInterval(() => {
    reading = reading.then(() => tail.drain());
  }, TAIL_MS);

  const done = child.then(async (r) => {
    exited = true;
    clearInterval(timer);
    await reading;
    await tail.drain();
    tail.flush();
    await fh.close();
    const exit = { exitCode: r.exitCode, signal: r.signal, errors };
    attachedReject(new Error(`bpftrace exited before attaching: ${errors.join(' | ') || describeExit(exit)}`));
    return exit;
  });

  return {
    attached,
    done,
    async stop() {
      if (!exited) child.kill('SIGINT');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await done;
      clearTimeout(killer);
    },
  };
}
