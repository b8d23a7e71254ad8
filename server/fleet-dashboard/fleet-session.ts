/**
 * A host analyzed by a fleet worker, as a stateless dashboard (`serve --nats`) holds it: the REST
 * API, the feed and /metrics read it as they read any LiveSession. It keeps what the worker
 * published (the flag summaries and loss windows of the results stream, the view and activity of
 * the stats subject); drill-downs are asked of the worker that owns the host, by request/reply.
 * It analyzes nothing and takes no batches: the host's agent publishes to the broker, not here.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { querySubject, type QueryAnswers, type QueryRequest, type StatsMessage } from '../fleet/results.js';
import type { ObjectKind } from '../model/objects.js';
import type { FlagDetail, FlagSummary, HostView, LossMark, ObjectHistory, ReplayView, StatsPoint } from '../shared/wire.js';
import type { IngestResult, LiveSession, SessionListener, StreamIdentity } from '../live/host-session.js';
import { Activity } from '../live/activity.js';
import type { Journal } from '../live/journal.js';
import type { Recording } from '../live/recording.js';

/**
 * A host no worker has reported for this long shows as failed, with why: its worker died (its
 * hosts move once their leases expire, docs/fleet.md) or lost the broker. Stats come every 500 ms.
 */
export const SILENT_MS = 15_000;
/** How long a drill-down waits for the owning worker's answer. */
export const QUERY_TIMEOUT_MS = 5000;

/** Why a fleet host cannot be recorded here: its stream is on the broker already. */
export const NOT_RECORDABLE = 'this host is analyzed by the fleet: its stream is kept on NATS (save a range of it: docs/fleet.md)';

export class FleetSession implements LiveSession {
  readonly host: string;
  readonly run: string;
  readonly identity: StreamIdentity;
  private latest: HostView;
  private readonly flagById = new Map<string, FlagSummary>();
  private lossMarks: LossMark[] = [];
  private readonly activity = new Activity();
  /** The newest point not yet handed to the hub's sampling round. */
  private fresh: StatsPoint | undefined;
  private lastStats: number;

  constructor(
    first: StatsMessage,
    private readonly nc: NatsConnection,
    private readonly out: SessionListener,
    private readonly clock: () => number,
  ) {
    const v = first.host;
    this.host = v.host;
    this.run = v.run;
    // The identity as the worker's view says it (the hello's header stays on the broker).
    this.identity = { host: v.host, run: v.run, mode: v.mode, label: v.label ?? undefined, header: {}, rules: v.rules };
    this.latest = v;
    this.lastStats = clock();
    this.takeStats(first);
  }

  /** A stats message of this run: the worker's view, and an activity point. */
  takeStats(m: StatsMessage): void {
    this.latest = m.host;
    this.lastStats = this.clock();
    const last = this.activity.points.at(-1);
    if (last !== undefined && m.point.wall <= last.wall) return; // one point a sample, in order
    this.activity.add(m.point);
    this.fresh = m.point;
  }

  /** Points from before this dashboard heard of the host (the owner's history), kept in order. */
  backfill(points: readonly StatsPoint[]): void {
    this.activity.addOlder(points);
  }

  /** A flag of this run, new or updated (the reader keeps the latest of each). */
  takeFlag(f: FlagSummary): void {
    this.flagById.set(f.id, f);
    this.out.flag(f);
  }

  takeLosses(l: LossMark[]): void {
    this.lossMarks = l;
    this.out.losses(this.host, l);
  }

  get lastSeq(): number {
    return 0;
  }

  get connected(): boolean {
    return this.latest.connected;
  }

  get ended(): boolean {
    return this.latest.ended;
  }

  get lastBatchWall(): number | null {
    return this.latest.lastBatchWall;
  }

  get points(): readonly StatsPoint[] {
    return this.activity.points;
  }

  readonly recording: Recording | undefined = undefined;
  readonly failure: string | undefined = undefined;
  readonly notRecordable = NOT_RECORDABLE;

  // Connection, journal and recording belong to whoever holds the stream: the agent and the broker.
  connect(): void {}
  disconnect(): void {}
  attachJournal(_j: Journal | undefined): void {}
  dropJournal(): void {}
  closeJournal(): void {}
  journalDamaged(): void {}

  startRecording(_r: Recording): void {
    throw new Error(NOT_RECORDABLE);
  }

  detachRecording(): Recording | undefined {
    return undefined;
  }

  headerLine(): string {
    throw new Error(NOT_RECORDABLE);
  }

  /** Flag occurrences by `rule|severity` (the metrics), from the flags' own counts. */
  flagCounts(): ReadonlyMap<string, number> {
    const counts = new Map<string, number>();
    for (const f of this.flagById.values()) {
      const key = `${f.rule}|${f.severity}`;
      counts.set(key, (counts.get(key) ?? 0) + f.count);
    }
    return counts;
  }

  ingest(): IngestResult {
    throw new Error(`host ${this.host} is analyzed by the fleet: its agent publishes to NATS`);
  }

  analyzed(): undefined {
    return undefined;
  }

  end(): void {}

  /** The worker settles its quiet streams itself. */
  tick(_now: number): void {}

  /** The newest point the worker published since the last round (none: it has not published since). */
  sample(_now: number): StatsPoint | undefined {
    const p = this.fresh;
    this.fresh = undefined;
    return p;
  }

  view(replay: ReplayView | null = null): HostView {
    const silent = this.clock() - this.lastStats;
    const failed =
      this.latest.failed ??
      (silent > SILENT_MS
        ? `no fleet worker has reported this host for ${Math.round(silent / 1000)} s (its worker died or lost the broker?)`
        : null);
    return { ...this.latest, recording: null, journal: null, replay, failed };
  }

  flags(): FlagSummary[] {
    return [...this.flagById.values()];
  }

  losses(): LossMark[] {
    return this.lossMarks;
  }

  async detail(id: string): Promise<FlagDetail | undefined> {
    if (!this.flagById.has(id)) return undefined;
    const a = await this.ask({ type: 'flag', id });
    return a === undefined ? undefined : (a as FlagDetail);
  }

  async objects(addrText: string, kinds?: readonly ObjectKind[]): Promise<ObjectHistory[]> {
    const a = await this.ask({ type: 'objects', addr: addrText, ...(kinds !== undefined ? { kinds: [...kinds] } : {}) });
    return (a as ObjectHistory[] | undefined) ?? [];
  }

  /** The owner's whole activity and losses (a dashboard that starts late fills its chart from it). */
  async history(): Promise<QueryAnswers['stats'] | undefined> {
    return (await this.ask({ type: 'stats' })) as QueryAnswers['stats'] | undefined;
  }

  congestion(): undefined {
    return undefined;
  }

  dispose(): void {}

  /**
   * Asks the worker that owns the host; undefined when none answers in time (the host is moving to
   * another worker), or it refuses (it has another run by now).
   */
  private async ask(req: QueryRequest): Promise<unknown> {
    try {
      const m = await this.nc.request(querySubject(this.host), JSON.stringify(req), { timeout: QUERY_TIMEOUT_MS });
      const a = m.json<unknown>();
      return typeof a === 'object' && a !== null && 'error' in a ? undefined : a;
    } catch {
      return undefined;
    }
  }
}
