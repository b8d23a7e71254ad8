/**
 * A host's session whose analysis runs on a worker thread (worker-pool.ts): the main thread's thin
 * stand-in for it. It keeps what the REST API, the feed and /metrics read at any moment (the flag
 * summaries, loss windows, activity points, the analysis' counts as last reported) and what is the
 * main thread's own (the agent's sequence, the journal, the recording); drill-downs are asked of the
 * worker. Batches go to the worker in order, their bytes transferred, never copied twice.
 */
import type { AnalysisOptions } from '../analyze/pipeline.js';
import { serializeHeader, type CaptureHeader } from '../capture/header.js';
import type { ObjectKind } from '../model/objects.js';
import type { FlagDetail, FlagSummary, HostView, LossMark, ObjectHistory, ReplayView, StatsPoint } from '../shared/wire.js';
import { err, ok } from '../support/result.js';
import { identityView, type IngestResult, type LiveSession, type SessionListener, type StreamIdentity } from './host-session.js';
import { Activity } from './activity.js';
import { StreamKeeping } from './stream-keeping.js';
import type { PoolWorker, WorkerClient } from './worker-pool.js';
import { toWireOptions, type AnalysisState, type FromWorker, type StatsSample } from './worker-protocol.js';

/** A batch this small is copied rather than given its own buffer to transfer. */
const MIN_TRANSFER_BYTES = 16 << 10;

let nextSid = 1;

export class RemoteSession extends StreamKeeping implements LiveSession, WorkerClient {
  readonly sid = nextSid++;
  readonly host: string;
  readonly run: string;
  private seq = 0;
  private duplicates = 0;
  private lastBatch: number | null = null;
  /** The agent said its stream ended (the worker's word that it did comes later). */
  private endSent = false;
  private readonly flagById = new Map<string, FlagSummary>();
  private lossMarks: LossMark[] = [];
  private readonly activity = new Activity();
  private state: AnalysisState = {
    view: { events: 0, lost: 0, anomalies: 0, anomalyKinds: {}, missingBatches: 0, now_s: 0, ended: false },
    flagCounts: [],
  };
  private counts: ReadonlyMap<string, number> = new Map();
  private failed: string | undefined;
  /** One per batch sent and not yet analyzed (the worker reports each, in order). */
  private readonly waiting: (() => void)[] = [];
  private waitingHead = 0;
  private lastAnalyzed: Promise<void> | undefined;

  constructor(
    readonly identity: StreamIdentity,
    options: Partial<AnalysisOptions>,
    private readonly worker: PoolWorker,
    private readonly out: SessionListener,
    private readonly clock: () => number,
  ) {
    super();
    this.host = identity.host;
    this.run = identity.run;
    worker.add(this);
    worker.post({ type: 'open', sid: this.sid, identity: { ...identity }, options: toWireOptions(options) });
  }

  get lastSeq(): number {
    return this.seq;
  }

  /** Ended as the worker reports it: its last flags are in by then. */
  get ended(): boolean {
    return this.state.view.ended;
  }

  get lastBatchWall(): number | null {
    return this.lastBatch;
  }

  get points(): readonly StatsPoint[] {
    return this.activity.points;
  }

  get failure(): string | undefined {
    return this.failed;
  }

  journalDamaged(): void {
    this.worker.post({ type: 'journal-damaged', sid: this.sid });
  }

  headerLine(): string {
    return serializeHeader(this.identity.header as CaptureHeader);
  }

  flagCounts(): ReadonlyMap<string, number> {
    return this.counts;
  }

  /** The agent's sequence is checked here (a resend is acknowledged, never sent on); the batch is journaled, then sent. */
  ingest(seq: number, lines: Uint8Array, head?: Uint8Array): IngestResult {
    if (this.endSent) throw new Error(`host ${this.host}: lines fed after the end of its stream`);
    if (seq <= this.seq) {
      this.duplicates++;
      return err('duplicate');
    }
    this.seq = seq;
    if (head !== undefined) this.journal?.append(head, lines); // before the ack: a restart can resume
    this.lastBatch = this.clock();
    this.recorder?.write(Buffer.from(lines)); // a copy: the batch's own bytes leave this thread
    const [buffer, offset] = ownBuffer(lines);
    this.lastAnalyzed = new Promise((resolve) => this.waiting.push(resolve));
    this.worker.post({ type: 'ingest', sid: this.sid, seq, lines: buffer, offset, length: lines.byteLength }, [buffer]);
    return ok(undefined);
  }

  analyzed(): Promise<void> | undefined {
    return this.waitingHead < this.waiting.length ? this.lastAnalyzed : undefined;
  }

  end(lastSeq = this.seq): void {
    if (this.endSent) return;
    this.endSent = true;
    this.seq = Math.max(this.seq, lastSeq);
    this.dropJournal();
    this.worker.post({ type: 'end', sid: this.sid, lastSeq });
  }

  /** The worker settles its quiet streams itself. */
  tick(_now: number): void {}

  async sample(now: number): Promise<StatsPoint | undefined> {
    if (this.failed !== undefined) return undefined;
    const s = (await this.worker.request({ kind: 'sample', sid: this.sid, now }).catch(() => undefined)) as StatsSample | undefined;
    if (s === undefined) return undefined;
    this.take(s);
    this.activity.add(s.point);
    return s.point;
  }

  view(replay: ReplayView | null = null): HostView {
    const a = this.state.view;
    return {
      ...identityView(this.identity),
      connected: this.connected,
      ended: a.ended,
      connectedSince: this.connectedSince,
      lastBatchWall: this.lastBatch,
      events: a.events,
      lost: a.lost,
      anomalies: a.anomalies,
      anomalyKinds: a.anomalyKinds,
      duplicates: this.duplicates,
      missingBatches: a.missingBatches,
      now_s: a.now_s,
      ...this.keptViews(),
      replay,
      failed: this.failed ?? null,
    };
  }

  flags(): FlagSummary[] {
    return [...this.flagById.values()];
  }

  losses(): LossMark[] {
    return this.lossMarks;
  }

  async detail(id: string): Promise<FlagDetail | undefined> {
    if (!this.flagById.has(id) || this.failed !== undefined) return undefined;
    return (await this.worker.request({ kind: 'detail', sid: this.sid, flag: id })) as FlagDetail | undefined;
  }

  async objects(addrText: string, kinds?: readonly ObjectKind[]): Promise<ObjectHistory[]> {
    if (this.failed !== undefined) return [];
    return ((await this.worker.request({ kind: 'objects', sid: this.sid, addr: addrText, kinds })) as ObjectHistory[] | undefined) ?? [];
  }

  congestion(): Promise<void> | undefined {
    return this.worker.congestion();
  }

  dispose(): void {
    this.worker.remove(this.sid);
  }

  receive(m: Extract<FromWorker, { sid: number }>): void {
    if (m.type === 'report') {
      if (m.state !== undefined) this.take(m.state);
      if (m.batch) this.batchDone();
      for (const f of m.flags) {
        this.flagById.set(f.id, f);
        this.out.flag(f);
      }
      if (m.losses !== undefined) {
        this.lossMarks = m.losses;
        this.out.losses(this.host, m.losses);
      }
    } else if (m.type === 'ended') {
      this.take(m.state);
      this.out.ended?.(this);
    }
  }

  fail(reason: string): void {
    if (this.failed !== undefined) return;
    this.failed = reason;
    process.stderr.write(`lifetrace: host ${this.host}: ${reason}\n`);
    // What waited for the analysis goes on (an ack waiting for it refuses the agent instead).
    for (let i = this.waitingHead; i < this.waiting.length; i++) this.waiting[i]!();
    this.waiting.length = 0;
    this.waitingHead = 0;
  }

  private batchDone(): void {
    this.waiting[this.waitingHead++]?.();
    if (this.waitingHead === this.waiting.length) {
      this.waiting.length = 0;
      this.waitingHead = 0;
    }
  }

  private take(s: AnalysisState): void {
    this.state = s;
    this.counts = new Map(s.flagCounts);
  }
}

/**
 * `lines` as a buffer of its own to transfer, and where in it they start: the buffer they are in
 * when it holds nothing else after them and little before (a frame of its own), else a copy.
 */
function ownBuffer(lines: Uint8Array): [ArrayBuffer, number] {
  const b = lines.buffer;
  if (
    b instanceof ArrayBuffer &&
    lines.byteLength >= MIN_TRANSFER_BYTES &&
    lines.byteOffset <= 64 &&
    lines.byteOffset + lines.byteLength === b.byteLength
  )
    return [b, lines.byteOffset];
  const copy = new Uint8Array(lines.byteLength);
  copy.set(lines);
  return [copy.buffer, 0];
}
