/**
 * `lifetrace capture` on the machine it runs on: resolve the probes for this kernel, start
 * bpftrace, wait until it is attached, run the workload, stop, and leave a capture file (format v1:
 * header, then bpftrace's lines exactly as printed).
 */
import { createWriteStream } from 'node:fs';
import { constants as osConstants, cpus, hostname } from 'node:os';
import { once } from 'node:events';
import { constants as zlibConstants, createGzip, type Gzip } from 'node:zlib';
import type { Writable } from 'node:stream';
import { execa } from 'execa';
import { CAPTURE_FORMAT, CAPTURE_VERSION, serializeHeader, type CaptureHeader } from '../capture/header.js';
import type { Family } from '../model/events.js';
import { readKernelFacts } from '../probes/facts.js';
import { ensureTracingMounts } from '../probes/host.js';
import { defaultFamilies, resolveProgram, type ProbePoint, type ResolvedProgram } from '../probes/resolve.js';
import { isPrintf, isReadyMarker, lostEvents, startBpftrace } from './bpftrace.js';
import { stressArgs, type StressPreset } from './stress.js';
import { err, ok, type Result } from '../support/result.js';
import { LIFETRACE_VERSION } from '../support/version.js';

/**
 * How often a gzip capture is flushed to its file. A kernel that dies mid-capture (a bug kernel, an
 * emulator flake) then leaves all but the last second of events readable: the reader takes a gzip
 * stream cut after a sync flush up to the cut. Costs a few bytes a second.
 */
const GZIP_FLUSH_MS = 1000;

/** Longest an epoll_ctl or a readdir walk is expected to take (they are printed at their return). */
const DEFERRED_MS = 1000;

export interface RecordOptions {
  out: string;
  /** Default: the kprobe families, or the tracepoint fallback on a kernel without kprobes. */
  families?: Family[] | undefined;
  durationS?: number;
  command?: string[];
  stress?: StressPreset;
  /** How long a stress preset runs when there is no command and no duration. */
  stressSeconds?: number;
  /** Where stress-ng writes its metrics (YAML, with bogo-ops), for benchmarks. */
  stressMetrics?: string;
  header?: Record<string, unknown>;
  onProgress?(p: Progress): void;
  /** Aborting stops the capture early (Ctrl-C); what was recorded is kept. */
  signal?: AbortSignal;
  log?(s: string): void;
}

export interface Progress {
  /** Probe records written (bpftrace's own ready marker is not one). */
  events: number;
  lost: number;
  /** Seconds traced: since every probe was attached (0 until then). */
  seconds: number;
}

export interface RecordResult extends Progress {
  out: string;
  lines: number;
  kernel: string;
  points: ProbePoint[];
  /** The command's exit status (128 + N when killed by signal N), when it ended on its own. */
  commandExit?: number | undefined;
  /** Stopped by the caller's signal (Ctrl-C), before or after the probes attached. */
  interrupted: boolean;
  stressExit?: number | undefined;
  bpftraceErrors: string[];
  /** Seconds from starting bpftrace to every probe attached (compiling and attaching; long under TCG). */
  attachSeconds: number;
}

export interface Recording {
  header: CaptureHeader;
  program: ResolvedProgram;
  kernel: string;
}

/**
 * The probe program for this kernel and the capture header that describes it; an error when this
 * machine cannot trace (tracefs cannot be mounted, no probe of the families can attach).
 */
export async function prepareRecording(o: {
  families?: Family[] | undefined;
  header?: Record<string, unknown>;
  log?(s: string): void;
}): Promise<Result<Recording>> {
  const log = o.log ?? (() => {});
  const mountProblems = await ensureTracingMounts();
  if (mountProblems.length > 0) return err(`cannot prepare tracing: ${mountProblems.join('; ')} (run as root)`);
  const facts = await readKernelFacts();
  const families = o.families ?? defaultFamilies(facts);
  if (!o.families && !facts.kprobes)
    log(`lifetrace: ${facts.release} cannot attach kprobes: recording the tracepoint fallback (family syscalls); see 'lifetrace probes'`);
  const program = resolveProgram(families, facts);
  const missing = program.points.filter((p) => p.resolution === 'missing');
  if (missing.length === program.points.length) {
    return err(
      `none of the probes of ${families.join(',')} can attach on ${facts.release}${facts.kprobes ? '' : ' (no kprobes on this kernel)'}: see 'lifetrace probes'`,
    );
  }
  for (const p of missing) {
    // An entry probe that only notes the call for its return probe has no records of its own.
    const what = p.tags.length > 0 ? `its records (${p.tags.join(', ')}) will not come` : 'nothing depends on it but its return probe';
    log(`lifetrace: ${p.attach} is not on this kernel: ${what}`);
  }

  const header: CaptureHeader = {
    format: CAPTURE_FORMAT,
    version: CAPTURE_VERSION,
    created: new Date().toISOString(),
    host: hostname(),
    kernel: facts.release,
    families: program.hashes,
    lifetrace_version: LIFETRACE_VERSION,
    // The reader orders records across CPUs: it needs to know how many can report, and how late
    // the probes print some records on purpose (epoll_ctl and readdir at their return).
    cpus: cpus().length,
    deferred_ms: DEFERRED_MS,
    probes: program.points.map((p) => ({
      attach: p.attach,
      wants: p.wants,
      resolution: p.resolution,
      ...(p.target ? { target: p.target } : {}),
    })),
    // Which historical fixes this kernel carries (from its own symbols and BTF): the rules' guards.
    fixes: program.fixes,
    ...o.header,
  };
  return ok({ header, program, kernel: facts.release });
}

/** Records a capture; an error when this machine cannot trace or bpftrace fails before its probes are attached. */
export async function recordCapture(o: RecordOptions): Promise<Result<RecordResult>> {
  const prepared = await prepareRecording({
    families: o.families,
    header: { ...o.header, ...(o.stress ? { stress: o.stress } : {}), ...(o.command ? { command: o.command } : {}) },
    ...(o.log ? { log: o.log } : {}),
  });
  if (!prepared.ok) return prepared;
  const { header, program, kernel } = prepared.value;
  const log = o.log ?? (() => {});

  const file = createWriteStream(o.out);
  const sink: Writable = o.out.endsWith('.gz') ? createGzip() : file;
  if (sink !== file) sink.pipe(file);
  sink.write(`${serializeHeader(header)}\n`);

  const started = Date.now();
  let attachedAt: number | undefined;
  const progress: Progress = { events: 0, lost: 0, seconds: 0 };
  let lines = 1;
  const bt = await startBpftrace(program.text, {
    onLine(line) {
      lines++;
      // The line's bytes as bpftrace printed them, and its newline (copied: the view is the tail's).
      const out = Buffer.allocUnsafe(line.length + 1);
      line.copy(out);
      out[line.length] = 10;
      sink.write(out);
      if (isPrintf(line)) {
        if (!isReadyMarker(line)) progress.events++;
      } else progress.lost += lostEvents(line);
    },
  });
  const flusher = sink === file ? undefined : setInterval(() => (sink as Gzip).flush(zlibConstants.Z_SYNC_FLUSH), GZIP_FLUSH_MS);
  const ticker = setInterval(() => {
    progress.seconds = attachedAt === undefined ? 0 : (Date.now() - attachedAt) / 1000;
    o.onProgress?.({ ...progress });
  }, 500);

  let commandExit: number | undefined;
  let stressExit: number | undefined;
  let interrupted = false;
  let durationTimer: NodeJS.Timeout | undefined;
  // Ctrl-C may come while bpftrace still compiles and attaches (a minute under TCG): it stops there.
  const stopRequested = new Promise<void>((res) => {
    if (o.signal?.aborted) res();
    else o.signal?.addEventListener('abort', () => res(), { once: true });
  });
  void stopRequested.then(() => {
    interrupted = true;
  });
  try {
    await Promise.race([bt.attached, stopRequested]);
    if (!interrupted) {
      attachedAt = Date.now();
      log(`lifetrace: probes attached on ${kernel} (in ${((attachedAt - started) / 1000).toFixed(1)} s)`);
      const until: Promise<unknown>[] = [];
      const abort = new AbortController();
      void stopRequested.then(() => abort.abort());
      if (o.stress) {
        const seconds = o.durationS ?? o.stressSeconds ?? 10;
        const stress = execa('stress-ng', stressArgs(o.stress, seconds, o.stressMetrics), {
          reject: false,
          stdin: 'ignore',
          cancelSignal: abort.signal,
          all: true,
        }).then((r) => {
          stressExit = r.exitCode;
        });
        if (!o.command) until.push(stress);
      }
      let command: Promise<void> | undefined;
      if (o.command) {
        const [cmd, ...args] = o.command;
        until.push(
          (command = execa(cmd!, args, { reject: false, stdio: 'inherit', cancelSignal: abort.signal }).then((r) => {
            // Only a command that ended on its own has a status of its own: one this capture ended
            // (--duration, Ctrl-C) has none to report.
            if (!r.isCanceled) commandExit = r.exitCode ?? 128 + (r.signal ? osConstants.signals[r.signal] : 0);
          })),
        );
      }
      if (o.durationS !== undefined && !o.stress)
        until.push(
          new Promise((r) => {
            durationTimer = setTimeout(r, o.durationS! * 1000);
          }),
        );
      if (until.length === 0) until.push(new Promise(() => {})); // until Ctrl-C
      await Promise.race([...until, once(abort.signal, 'abort'), bt.done]);
      // A timer left running would hold the process (and a guest) until --duration had passed.
      clearTimeout(durationTimer);
      abort.abort();
      await command; // its last events come before the probes stop
    }
  } catch (e) {
    clearTimeout(durationTimer);
    clearInterval(ticker);
    clearInterval(flusher);
    await bt.stop();
    sink.end();
    await once(file, 'close');
    const { errors } = await bt.done;
    return err(`${(e as Error).message}${errors.length ? `\n${errors.join('\n')}` : ''}`);
  }
  clearInterval(ticker);
  clearInterval(flusher);
  await bt.stop();
  const { errors } = await bt.done;
  sink.end();
  await once(file, 'close');
  const stopped = Date.now();
  progress.seconds = (stopped - (attachedAt ?? stopped)) / 1000;
  return ok({
    ...progress,
    out: o.out,
    lines,
    kernel,
    points: program.points,
    commandExit,
    stressExit,
    interrupted,
    bpftraceErrors: errors,
    attachSeconds: ((attachedAt ?? stopped) - started) / 1000,
  });
}
