/**
 * The whole analysis, one direction: capture lines -> decoder -> reorderer -> rules around the
 * World -> flags. Push chunks (any size, any boundaries) and call end(); the same input always gives
 * the same result.
 */
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { CaptureHeader } from '../capture/header.js';
import { LineSplitter } from '../capture/lines.js';
import { openCapture } from '../capture/open.js';
import type { CaptureDecoder, StreamSummary } from '../decode/decoder.js';
import { LossLedger } from '../decode/losses.js';
import { OrderedDecoder } from '../decode/ordered.js';
import type { BatchSink, PackedBatch } from '../decode/packed/batch.js';
import { PackedFields } from '../decode/packed/unpack.js';
import { DEFAULT_REORDER, type ReorderOptions } from '../decode/reorder.js';
import { isSyscallEvent, type KernelEvent, type RecordEvent, type SyscallEvent } from '../model/events.js';
import { FdModel } from '../lifetime/fdtable.js';
import type { Nanos } from '../model/time.js';
import { DEFAULT_LIMITS, World, type WorldLimits } from '../lifetime/world.js';
import { RuleEngine } from '../rules/engine.js';
import { FlagStore } from '../rules/flags.js';
import { KernelGuards } from '../rules/guards.js';
import { RULES } from '../rules/index.js';
import { DEFAULT_RULE_OPTIONS, type Rule, type RuleOptions } from '../rules/rule.js';

export interface AnalysisOptions {
  rules: readonly Rule[];
  ruleOptions: RuleOptions;
  reorder: ReorderOptions;
  limits: WorldLimits;
  maxFlagsPerRule: number;
}

export const DEFAULT_ANALYSIS: AnalysisOptions = {
  rules: RULES,
  ruleOptions: DEFAULT_RULE_OPTIONS,
  reorder: DEFAULT_REORDER,
  limits: DEFAULT_LIMITS,
  maxFlagsPerRule: 1000,
};

export class Analysis {
  readonly world: World;
  readonly flags: FlagStore;
  readonly losses = new LossLedger();
  readonly decoder: CaptureDecoder;
  readonly options: AnalysisOptions;
  /** The rules' kernel-level guards, from the capture header's `fixes`. */
  readonly guards = new KernelGuards();
  events = 0;
  // Kept as plain doubles (a field that may hold undefined boxes every time stored into it).
  private seen = false;
  private first = 0;
  private last = 0;
  private readonly engine: RuleEngine;
  private readonly front: OrderedDecoder;
  private readonly lines: LineSplitter;
  private ended = false;
  /** Set when the input stream itself failed (e.g. a truncated gzip member). */
  inputError: string | undefined;

  constructor(options: Partial<AnalysisOptions> = {}) {
    this.options = { ...DEFAULT_ANALYSIS, ...options };
    this.world = new World(this.options.limits);
    this.flags = new FlagStore(this.options.maxFlagsPerRule, this.guards);
    this.engine = new RuleEngine(
      this.options.rules,
      this.options.ruleOptions,
      this.flags,
      {
        ruleThrew: (rule, ev, e) =>
          this.decoder.anomalies.add(
            'rule-error',
            ev?.line ?? this.decoder.info.lines,
            `rule ${rule.id} threw on ${ev === undefined ? 'the end of input' : `${ev.kind} (${ev.fn}, pid ${ev.pid})`}: ${errorText(e)}`,
          ),
        modelThrew: (ev, e) =>
          this.decoder.anomalies.add(
            'model-error',
            ev.line,
            `the lifetime model could not apply ${ev.kind} (${ev.fn}, pid ${ev.pid}): ${errorText(e)}`,
          ),
      },
      this.guards,
    );
    const front = new OrderedDecoder(
      { event: (ev, t) => this.step(ev, t), loss: (w) => this.losses.add(w), header: (h) => this.guards.setHeader(h) },
      this.options.reorder,
    );
    this.front = front;
    this.decoder = front.decoder;
    this.lines = new LineSplitter(
      (buf, start, end, n) => this.decoder.lineBytes(buf, start, end, n),
      undefined,
      (n, bytes) => this.decoder.longLine(n, bytes),
    );
  }

  push(chunk: Buffer | string): void {
    this.lines.push(chunk);
  }

  /** The capture header as a value (a live agent's hello carries it parsed), in place of the stream's first line. */
  pushHeader(header: unknown): void {
    this.decoder.header(header, this.lines.skipLine());
  }

  /** A line past MAX_LINE_BYTES that the sender skipped, between the lines pushed before and after. */
  skippedLongLine(bytes: number): void {
    this.decoder.longLine(this.lines.skipLine(), bytes);
  }

  /**
   * push for a stream that must outlive a fault of the analysis (a server's host): rules and the
   * model are contained per record already (RuleEngine); anything else that throws costs the rest
   * of this chunk, counted as an analysis-error anomaly and a loss window, and the stream goes on.
   */
  pushContained(chunk: Buffer | string): void {
    const before = this.newestT;
    try {
      this.push(chunk);
    } catch (e) {
      const line = this.decoder.info.lines;
      this.decoder.anomalies.add('analysis-error', line, `the analysis stopped on this chunk after line ${line}: ${errorText(e)}`);
      this.lines.reset();
      const to = this.newestT;
      const why = 'the analysis failed on part of a batch (an analysis-error anomaly)';
      if (to !== -Infinity) this.markGap(before === -Infinity ? to : before, to, why);
    }
  }

  /**
   * Live streams: the input has been quiet for `idleNs` of wall time; release what the reorderer
   * holds up to what can no longer come (see Reorderer.settle) instead of waiting for more input. A
   * record that still comes later with an older time is applied and counted as a late-event anomaly.
   */
  settle(idleNs: number): void {
    if (!this.ended) this.front.reorder.settle(idleNs);
  }

  /** Kernel time of the first event analyzed, and the latest; undefined before any event. */
  get firstT(): Nanos | undefined {
    return this.seen ? (this.first as Nanos) : undefined;
  }

  get lastT(): Nanos | undefined {
    return this.seen ? (this.last as Nanos) : undefined;
  }

  /**
   * Records are missing between the newest time seen before and `to`, for `reason` (batches a
   * server never received): a loss window of unknown count, as a lifetrace_gap record makes.
   */
  markGap(from: number, to: number, reason: string): void {
    this.losses.add({ start: from as Nanos, end: to as Nanos, count: 0, line: this.decoder.info.lines, reason });
  }

  /** The newest kernel time seen so far, held or applied (-Infinity before any record). */
  get newestT(): number {
    return this.front.reorder.newest;
  }

  /**
   * The analysis as of kernel time `t`, for a replay paused there: records later than `t` wait
   * (`holdAfter`, Infinity lifts it), and once the input has been read `reorderWindowNs` past `t`
   * (so that what comes late of the records up to `t` is in), `releaseThrough(t)` applies them all.
   */
  holdAfter(t: number): void {
    this.front.reorder.holdAfter(t);
  }

  releaseThrough(t: number): void {
    this.front.reorder.releaseThrough(t);
  }

  get reorderWindowNs(): number {
    return this.front.reorder.windowNs;
  }

  /**
   * The earliest kernel time a record not seen yet may carry (the slowest active CPU's last record):
   * where a stretch of the stream that never arrives may begin.
   */
  get unseenFrom(): number {
    return this.front.reorder.lossWindow().start;
  }

  /** Records already decoded and put in order by the decode worker (instead of push). */
  pushOrdered(batch: PackedBatch): void {
    this.unpack.read(batch, this.ordered);
  }

  /** `truncated`: the last line if it had no newline. */
  end(truncated = this.lines.end()): this {
    if (this.ended) return this;
    this.ended = true;
    this.front.end(truncated);
    return this.finish();
  }

  /** end() for input that came through pushOrdered: the decode worker's account of the stream. */
  endOrdered(stream: StreamSummary): this {
    if (this.ended) return this;
    this.ended = true;
    this.decoder.adopt(stream);
    return this.finish();
  }

  private finish(): this {
    this.engine.finish(this.world, (this.lastT ?? 0) as Nanos);
    return this;
  }

  private readonly unpack = new PackedFields();
  private readonly ordered: BatchSink = {
    record: (ev, t, route) => this.stepRoute(ev, t, route),
    event: (ev, t) => this.step(ev, t),
    loss: (w) => this.losses.add(w),
  };

  /** The fallback's fd-level records, modelled in time order into kernel events. */
  private fdModel: FdModel | undefined;
  private readonly applyEvent = (ev: KernelEvent): void => this.apply(ev, ev.t);

  /** `t` is ev.t, from the reorderer (a read of it from the event would be megamorphic). */
  private step(ev: RecordEvent, t: number): void {
    if (isSyscallEvent(ev)) {
      (this.fdModel ??= new FdModel()).translate(ev, this.applyEvent);
      return;
    }
    this.apply(ev, t);
  }

  /** Per record route: whether its events are the fallback's fd-level ones (known after the first). */
  private readonly routeIsSyscall: (boolean | undefined)[] = [];

  /** step for an event of a known record route (ROUTE_LIST index), whose kind it says: no read of it per event. */
  private stepRoute(ev: RecordEvent, t: number, route: number): void {
    let sc = this.routeIsSyscall[route];
    if (sc === undefined) {
      sc = isSyscallEvent(ev);
      this.routeIsSyscall[route] = sc;
    }
    if (sc) {
      (this.fdModel ??= new FdModel()).translate(ev as SyscallEvent, this.applyEvent);
      return;
    }
    this.count(t);
    this.engine.stepRoute(ev as KernelEvent, this.world, route);
  }

  /** One more event analyzed, at kernel time `t`. */
  private count(t: number): void {
    this.events++;
    if (!this.seen) {
      this.seen = true;
      this.first = t;
      this.last = t;
    } else if (t > this.last) {
      this.last = t;
    }
  }

  private apply(ev: KernelEvent, t: number): void {
    this.count(t);
    this.engine.step(ev, this.world);
  }
}

/**
 * From this size on, a capture is read and parsed on a second thread (decode/packed/worker.ts) while this
 * one analyzes; below it, starting a worker costs more than it saves.
 */
const WORKER_MIN_BYTES = 16 << 20;
const WORKER = new URL('../decode/packed/worker.js', import.meta.url);

/** Analyzes a capture file (plain or gzip) as a stream. Input errors end the analysis, keeping what was read. */
export async function analyzeFile(
  path: string,
  options: Partial<AnalysisOptions> = {},
  prepare?: (a: Analysis) => void,
): Promise<Analysis> {
  const a = new Analysis(options);
  prepare?.(a); // e.g. listen to flags as they are raised
  if (await worthAWorker(path)) return analyzeWithWorker(path, a);
  const stream = await openCapture(path);
  // Only the reading can fail as input: an error of the analysis itself is never taken for the end of the file.
  for (;;) {
    let next: IteratorResult<Buffer>;
    try {
      next = await stream.next();
    } catch (e) {
      a.inputError = `${path}: reading stopped after line ${a.decoder.info.lines}: ${(e as Error).message}`;
      break;
    }
    if (next.done === true) break;
    a.push(next.value);
  }
  return a.end();
}

/** An error as one line of an anomaly. */
function errorText(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return typeof e === 'string' ? e : 'a non-Error value';
}

async function worthAWorker(path: string): Promise<boolean> {
  // Run from the TypeScript sources (the tests), there is no compiled worker to start.
  if (!existsSync(fileURLToPath(WORKER))) return false;
  try {
    return (await stat(path)).size >= WORKER_MIN_BYTES;
  } catch {
    return false; // openCapture reports it
  }
}

type WorkerMessage =
  | { type: 'header'; header: CaptureHeader }
  | { type: 'batch'; batch: PackedBatch }
  | { type: 'open-error'; message: string; code: string | undefined }
  | { type: 'end'; stream: StreamSummary; error: string | null; errorLine: number };

/** analyzeFile with the reading, parsing and ordering on the decode worker: the same result, two cores. */
function analyzeWithWorker(path: string, a: Analysis): Promise<Analysis> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { workerData: { path, reorder: a.options.reorder } });
    let settled = false;
    const fail = (e: unknown): void => {
      if (settled) return;
      settled = true;
      void w.terminate();
      reject(e);
    };
    w.on('message', (m: WorkerMessage) => {
      try {
        if (m.type === 'header') {
          a.guards.setHeader(m.header);
        } else if (m.type === 'batch') {
          a.pushOrdered(m.batch);
          // Back to the worker for reuse; it may send another batch.
          w.postMessage(m.batch.nums, [m.batch.nums.buffer as ArrayBuffer]);
        } else if (m.type === 'open-error') {
          fail(Object.assign(new Error(m.message), m.code === undefined ? {} : { code: m.code }));
        } else {
          settled = true;
          if (m.error !== null) a.inputError = `${path}: reading stopped after line ${m.errorLine}: ${m.error}`;
          resolve(a.endOrdered(m.stream));
        }
      } catch (e) {
        fail(e);
      }
    });
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`the decode worker exited early (code ${code})`)));
  });
}
