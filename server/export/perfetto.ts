/**
 * `lifetrace export --format perfetto`: a capture as Chrome trace-event JSON that ui.perfetto.dev
 * (and chrome://tracing) opens. Layout and guarantees: docs/export.md.
 *
 * The analysis is the one `lifetrace analyze` runs; the export only listens to it. Each generation
 * is written the moment it ends (ObjectTable.onEnd), so memory is bounded by what the analysis
 * itself keeps (live objects, tombstones, capped flags), not by the size of the capture. What can
 * only be known at the end (objects still live, flags and their confidence, lost-event windows) is
 * written at the end; all of it is bounded by the same caps.
 */
import type { Writable } from 'node:stream';
import { Analysis, type AnalysisOptions } from '../analyze/pipeline.js';
import { openCapture } from '../capture/open.js';
import type { Nanos } from '../model/time.js';
import { LIFETRACE_VERSION } from '../support/version.js';
import { flagEvents } from './flags.js';
import { CAPTURE_PID, lifetimeEvents, processMetadata } from './lifetimes.js';
import { TraceEventWriter, usec, type TraceEvent } from './trace-json.js';

/** Input pushed into the analysis between two waits for the output. */
const PUSH_BYTES = 64 * 1024;
/** Events written at the end between two waits for the output. */
const DRAIN_EVERY = 256;

export interface ExportOptions {
  analysis?: Partial<AnalysisOptions>;
  /** End `out` when done (a file); leave it open (stdout). */
  endStream: boolean;
}

export interface ExportResult {
  analysis: Analysis;
  /** Trace events written, metadata included. */
  traceEvents: number;
  /** Object generations written (ended, and live at the end). */
  lifetimes: number;
}

export async function exportPerfetto(path: string, out: Writable, options: ExportOptions): Promise<ExportResult> {
  const a = new Analysis(options.analysis);
  const w = new TraceEventWriter(out);
  const write = (events: Iterable<TraceEvent>): void => {
    for (const e of events) w.event(e);
  };
  let lifetimes = 0;

  write(processMetadata());
  const tables = a.world.tables();
  for (const t of tables) {
    t.onEnd = (o, freed) => {
      lifetimes++;
      write(lifetimeEvents(o, freed === undefined ? { how: 'end-unseen' } : { how: 'freed', freed }));
    };
  }

  // As analyzeFile, plus a wait for the output (backpressure). The analysis of one push is
  // synchronous, so input is pushed in slices: the output one slice produces is what can pile up.
  const stream = await openCapture(path);
  try {
    for await (const chunk of stream) {
      const buf = chunk as Buffer;
      for (let i = 0; i < buf.length; i += PUSH_BYTES) {
        a.push(buf.subarray(i, i + PUSH_BYTES));
        await w.drained();
      }
    }
  } catch (e) {
    if (w.failed !== undefined) throw w.failed;
    a.inputError = `${path}: reading stopped after line ${a.decoder.info.lines}: ${(e as Error).message}`;
  }
  a.end();

  // What is written at the end is bounded but can be large (up to the World's live cap, thousands
  // of flags): it is produced lazily and the output is waited for between batches.
  const endT = (a.lastT ?? 0) as Nanos;
  for (const t of tables) t.onEnd = undefined;
  function* atEnd(): Generator<TraceEvent> {
    for (const t of tables) {
      for (const o of t.live.values()) {
        lifetimes++;
        yield* lifetimeEvents(o, { how: 'open-at-end', t: endT });
      }
    }
    yield* lossEvents(a);
    yield* flagEvents(a);
  }
  let n = 0;
  for (const e of atEnd()) {
    w.event(e);
    if (++n % DRAIN_EVERY === 0) await w.drained();
  }

  await w.close(
    {
      displayTimeUnit: 'ns',
      metadata: {
        source: 'lifetrace',
        lifetrace_version: LIFETRACE_VERSION,
        capture: path,
        // ts 0 is this kernel CLOCK_MONOTONIC time (ns); every ts is relative to it, in µs.
        time_base_ns: a.decoder.time.absolute(0 as Nanos),
        kernel: a.decoder.info.header?.kernel ?? null,
        host: a.decoder.info.header?.host ?? null,
        events: a.events,
        lost_events: a.losses.total,
        lifetimes,
        flags_by_rule: Object.fromEntries([...a.flags.perRule].map(([k, v]) => [k, { ...v }])),
        anomaly_counts: Object.fromEntries(a.decoder.anomalies.counts),
        input_error: a.inputError ?? null,
      },
    },
    options.endStream,
  );
  return { analysis: a, traceEvents: w.count, lifetimes };
}

/** Lost-event windows (merged, so disjoint) as slices on the capture's track, clamped to the events. */
function lossEvents(a: Analysis): TraceEvent[] {
  if (a.firstT === undefined || a.lastT === undefined) return [];
  const lo = a.firstT;
  const hi = a.lastT;
  return a.losses.windows.map((lw) => {
    const start = Math.min(hi, Math.max(lo, lw.start));
    const end = Math.max(start, Math.min(hi, lw.end));
    return {
      ph: 'X',
      name: `${lw.count} events lost`,
      cat: 'loss',
      pid: CAPTURE_PID,
      tid: CAPTURE_PID,
      ts: usec(start),
      dur: usec(end - start),
      args: { count: lw.count, line: lw.line },
    };
  });
}
