/**
 * One host's stream on the server: the agent's batches, in sequence, into an Analysis of their
 * own; flags, losses and activity samples out. A reconnecting agent resumes from `lastSeq`: a batch
 * it sends again is counted as a duplicate and not analyzed twice.
 */
import { Analysis, type AnalysisOptions } from '../analyze/pipeline.js';
import { err, ok, type Result } from '../support/result.js';
import { serializeHeader, type CaptureHeader } from '../capture/header.js';
import { FAMILIES } from '../model/events.js';
import { OBJECT_KINDS } from '../model/objects.js';
import type { AgentHello, FlagDetail, FlagSummary, HostView, LossMark, ObjectHistory, ReplayView, StatsPoint } from '../shared/wire.js';
import type { Recording } from './recording.js';
import type { Journal } from './journal.js';
import { StreamKeeping } from './stream-keeping.js';
import { Activity } from './activity.js';
import { findRule } from '../rules/index.js';
import { mailingListLine } from '../rules/rule.js';
import type { Flag } from '../rules/flags.js';
import { uncertaintyOf } from '../analyze/confidence.js';
import { LifetimeHistory } from './history.js';
import { evidenceView, flagSummary, lossMarks, objectHistories, parseAddr, seconds } from './views.js';
import type { ObjectKind } from '../model/objects.js';

/**
 * A stream quiet for this long is settled: kernel time is taken to pass with wall time, and what can
 * no longer come (given the lateness seen) is released without waiting for more input.
 */
const SETTLE_AFTER_MS = 200;

/** What a session tells its owner: flags (new, or changed by a loss), loss windows, and the end of its stream. */
export interface SessionListener {
  flag(f: FlagSummary): void;
  losses(host: string, l: LossMark[]): void;
  /** The stream ended for good (its recording, if any, is complete). */
  ended?(s: LiveSession): void;
}

/**
 * Who a session's stream is: an agent's checked hello, or a server replay's own (an AgentHello is
 * one). A session has no socket: whatever feeds it (an agent's socket, a server replay, a fleet
 * worker's stream consumer) calls its transitions.
 */
export interface StreamIdentity {
  readonly host: string;
  /** One run of the host's stream: its flags' ids start with it. */
  readonly run: string;
  readonly mode: 'live' | 'replay';
  readonly label?: string | undefined;
  readonly header: Record<string, unknown>;
  readonly rules: AgentHello['rules'];
}

/** What a host's view says of its stream's identity (host, run, mode, kernel, families, rules). */
export function identityView(id: StreamIdentity): Pick<HostView, 'host' | 'run' | 'mode' | 'label' | 'kernel' | 'families' | 'rules'> {
  const h = id.header;
  return {
    host: id.host,
    run: id.run,
    mode: id.mode,
    label: id.label ?? null,
    kernel: typeof h.kernel === 'string' ? h.kernel : 'unknown',
    families: typeof h.families === 'object' && h.families !== null ? Object.keys(h.families) : [],
    rules: id.rules,
  };
}

/** What feeds a host's session, as its owner (hosts.ts) sees it: an agent's socket, a server replay. */
export interface SessionSource {
  /** Whether the host keeps its slot when the host limit needs one (an agent while connected, a replay while it plays). */
  holdsSlot(s: LiveSession): boolean;
  /** The host is forgotten: stop feeding it. */
  forget(): void;
  /** The replay controls' state (a server replay), shown with the host. */
  replayView(): ReplayView | null;
}

/** A value now (a session in this thread) or later (one in a worker thread). */
export type Awaitable<T> = T | Promise<T>;

/**
 * A host's session as its owner (hosts.ts), the hub, the desk and the agent's socket see it: a
 * HostSession in this thread, or a RemoteSession (remote-session.ts) standing for one in a worker
 * thread. What only the analysis knows (drill-downs, a sample) may come later.
 */
export interface LiveSession {
  readonly host: string;
  readonly run: string;
  readonly identity: StreamIdentity;
  readonly lastSeq: number;
  readonly connected: boolean;
  readonly ended: boolean;
  readonly lastBatchWall: number | null;
  readonly points: readonly StatsPoint[];
  readonly recording: Recording | undefined;
  /** Why its analysis stopped before its stream did (its worker thread failed); undefined while it works. */
  readonly failure: string | undefined;
  connect(now?: number): void;
  disconnect(): void;
  attachJournal(j: Journal | undefined): void;
  dropJournal(): void;
  closeJournal(): void;
  journalDamaged(): void;
  /** Why the host's stream cannot be recorded here (undefined: it can). */
  readonly notRecordable: string | undefined;
  startRecording(r: Recording): void;
  detachRecording(): Recording | undefined;
  headerLine(): string;
  flagCounts(): ReadonlyMap<string, number>;
  ingest(seq: number, lines: Uint8Array, head?: Uint8Array): IngestResult;
  /** undefined when every batch ingested is analyzed; else when the last one is (an ack waits for it). */
  analyzed(): Promise<void> | undefined;
  end(lastSeq?: number): void;
  tick(now: number): void;
  /** An activity sample (undefined: none could be taken, its analysis failed). */
  sample(now: number): Awaitable<StatsPoint | undefined>;
  view(replay?: ReplayView | null): HostView;
  flags(): FlagSummary[];
  losses(): LossMark[];
  detail(id: string): Awaitable<FlagDetail | undefined>;
  objects(addrText: string, kinds?: readonly ObjectKind[]): Awaitable<ObjectHistory[]>;
  /** Backpressure: undefined while its analysis keeps up, else when it has room again (stop reading its source until then). */
  congestion(): Promise<void> | undefined;
  /** The session is let go of (replaced, forgotten, the server stops). */
  dispose(): void;
}

/** A batch analyzed, or one received before (a resend after a reconnect): acknowledged, not analyzed twice. */
export type IngestResult = Result<void, 'duplicate'>;

/**
 * The analysis state machine of one host's stream: batches in (ingest, feed, end), flags, losses and
 * activity samples out (the listener, sample, view). Its owner (hosts.ts) creates and drops it and
 * moves it between connected and not; it does no I/O of its own but append to the journal and
 * recording it is given.
 */
export class HostSession extends StreamKeeping implements LiveSession {
  readonly host: string;
  readonly run: string;
  private readonly analysis: Analysis;
  private readonly activity = new Activity();
  private seq = 0;
  private duplicates = 0;
  /** Batches skipped in the sequence: never received (counted, and a loss window). */
  private missingBatches = 0;
  /** Why skipped batches are missing (the journal says when it was damaged). */
  private missingCause = 'it restarted without them';
  private isEnded = false;
  private lastBatch: number | null = null;
  private settled = true;
  /**
   * Kernel time per wall time while the stream is quiet (see tick): 1 live; a replay's speed; 0 for
   * a replay at full speed or paused. A server-side replay sets it as it plays; an agent's replay says
   * its speed in its header's `replay_speed` (else it is paced as live).
   */
  private pace: number;
  private readonly history = new LifetimeHistory();
  private readonly ids = new Map<Flag, string>();
  private readonly byId = new Map<string, Flag>();
  private readonly raisedWall = new Map<Flag, number>();
  private readonly raisedAt = new Map<Flag, number>();
  private lastRecords: Record<string, number>;
  private lastSampleWall: number;
  private lossReports = 0;

  constructor(
    readonly identity: StreamIdentity,
    options: Partial<AnalysisOptions>,
    private readonly out: SessionListener,
    private readonly clock: () => number,
  ) {
    super();
    this.host = identity.host;
    this.run = identity.run;
    this.pace = paceOf(identity);
    this.analysis = new Analysis(options);
    for (const t of this.analysis.world.tables()) t.onEnd = (o, freed) => this.history.add(o, freed);
    this.analysis.flags.onFlag((f, isNew) => {
      if (isNew) {
        const id = `${this.host}:${this.run.slice(0, 8)}:${this.ids.size + 1}`;
        this.ids.set(f, id);
        this.byId.set(id, f);
        this.raisedWall.set(f, this.clock());
      }
      this.raisedAt.set(f, this.analysis.lastT ?? f.time);
      this.out.flag(this.summary(f));
    });
    // The stream is a capture: its header first, so the decoder knows the CPUs and deferrals.
    this.analysis.pushHeader(identity.header);
    this.lastRecords = { ...this.analysis.decoder.info.records };
    this.lastSampleWall = clock();
  }

  /** A session in this thread fails with the server only. */
  readonly failure = undefined;

  /** Analyzed as it comes: never behind. */
  congestion(): undefined {
    return undefined;
  }

  analyzed(): undefined {
    return undefined;
  }

  dispose(): void {}

  /** The last batch received (an agent resumes after it). */
  get lastSeq(): number {
    return this.seq;
  }

  get ended(): boolean {
    return this.isEnded;
  }

  /** Wall time of the last input, or null before any. */
  get lastBatchWall(): number | null {
    return this.lastBatch;
  }

  /** Activity samples, oldest first (at most MAX_POINTS). */
  get points(): readonly StatsPoint[] {
    return this.activity.points;
  }

  /** Batches after this are missing because the journal they were in was damaged (not merely absent). */
  journalDamaged(): void {
    this.missingCause = 'they were damaged in its journal';
  }

  /** Kernel time per wall time while quiet (see `pace`): a server replay sets it as it plays. */
  setPace(pace: number): void {
    this.pace = pace;
  }

  /** How late a record may come (the analysis' reorder window, ns). */
  get reorderWindowNs(): number {
    return this.analysis.reorderWindowNs;
  }

  /** Holds records after kernel time `t` back (a replay seeking); Infinity lets them go again. */
  holdAfter(t: number): void {
    this.analysis.holdAfter(t);
  }

  /** Releases every held record up to kernel time `t` (a replay's seek target). */
  releaseThrough(t: number): void {
    this.analysis.releaseThrough(t);
  }

  /** Flag occurrences by `rule|severity` (the metrics). */
  flagCounts(): ReadonlyMap<string, number> {
    return this.analysis.flags.perSeverity;
  }

  /** An agent's batch; `head` is its frame head, for the journal. */
  ingest(seq: number, lines: Uint8Array, head?: Uint8Array): IngestResult {
    if (seq <= this.seq) {
      this.duplicates++;
      return err('duplicate');
    }
    const first = this.seq + 1;
    const from = this.analysis.unseenFrom;
    this.seq = seq;
    if (head !== undefined) this.journal?.append(head, lines); // before the ack: a restart can resume
    this.feed(lines);
    // Batches the agent no longer has and this server never analyzed (it restarted without its
    // journal, or its journal was damaged): what they held is lost, somewhere between the records
    // before and these.
    // (Their records may also lie later than any received yet: as far as the reorder window lets a
    // record come late, the bound the analysis puts records in order by.)
    if (seq > first) this.missed(first, seq - 1, from, this.analysis.newestT + this.analysis.reorderWindowNs);
    return ok(undefined);
  }

  /** Batches first..last never reached this server: a recorded loss over [from, to] in kernel time. */
  private missed(first: number, last: number, from: number, to: number): void {
    this.missingBatches += last - first + 1;
    this.analysis.markGap(from, to, `batches ${first}-${last} never reached this server (${this.missingCause})`);
    this.checkLosses();
  }

  /** Raw capture lines, in order (a batch from the agent, or a server-side replay). */
  feed(lines: Uint8Array): void {
    if (this.isEnded) throw new Error(`host ${this.host}: lines fed after the end of its stream`);
    this.lastBatch = this.clock();
    this.settled = false;
    const buf = Buffer.from(lines.buffer, lines.byteOffset, lines.byteLength);
    this.analysis.pushContained(buf);
    this.recorder?.write(buf);
    this.checkLosses();
  }

  /** A line of the replayed file too long to send (MAX_LINE_BYTES): counted where it was. */
  skippedLongLine(bytes: number): void {
    this.analysis.skippedLongLine(bytes);
  }

  /** The stream's header line, as a recording starts with it. */
  headerLine(): string {
    return serializeHeader(this.identity.header as CaptureHeader);
  }

  /**
   * Called often (every hub tick): settles a quiet stream, taking kernel time to have passed at `pace`
   * times the wall time it was quiet for. Never at pace 0: a replay at full speed or paused is quiet
   * because its sender is (a busy server, a slow disk), not its kernel, and the next batch may hold a
   * record of another CPU seconds older in kernel time: settling made it a late-event that `lifetrace
   * analyze` does not have. Such a replay is ordered exactly as analyze orders it.
   */
  /** Events analyzed so far (cheap, unlike view()). */
  get events(): number {
    return this.analysis.events;
  }

  tick(now: number): void {
    if (this.pace <= 0 || this.settled || this.isEnded || this.lastBatch === null) return;
    const idle = (now - this.lastBatch) * this.pace;
    if (idle >= SETTLE_AFTER_MS) this.analysis.settle(idle * 1e6);
    if (idle > 15_000) this.settled = true; // past any window: everything is out
  }

  /**
   * The stream ended for good after batch `lastSeq` (the agent's word): rules flag what is still
   * pending. Batches the agent sent, had acknowledged and this server no longer has (a damaged
   * journal) are a recorded loss up to the end.
   */
  end(lastSeq = this.seq): void {
    if (this.isEnded) return;
    if (lastSeq > this.seq) {
      this.missed(this.seq + 1, lastSeq, this.analysis.unseenFrom, Infinity);
      this.seq = lastSeq;
    }
    this.isEnded = true;
    this.analysis.end();
    this.checkLosses();
    this.dropJournal();
    this.out.ended?.(this);
  }

  /** Flags raised so far: each new one once (a replay's first pass lists when each was raised). */
  get flagCount(): number {
    return this.ids.size;
  }

  sample(now: number): StatsPoint {
    const info = this.analysis.decoder.info;
    const dt = Math.max(1, now - this.lastSampleWall) / 1000;
    const rate: Record<string, number> = {};
    for (const f of FAMILIES) rate[f] = Math.round((info.records[f] - (this.lastRecords[f] ?? 0)) / dt);
    const live: Record<string, number> = {};
    for (const k of OBJECT_KINDS) live[k] = this.analysis.world.table(k).summary.live;
    this.lastRecords = { ...info.records };
    this.lastSampleWall = now;
    const p: StatsPoint = {
      host: this.host,
      wall: now,
      now_s: seconds(this.analysis.lastT ?? 0),
      rate,
      live,
      lost: this.analysis.losses.total,
    };
    this.activity.add(p);
    return p;
  }

  /** The host as the API shows it; `replay`: its server replay's controls, if it is one. */
  view(replay: ReplayView | null = null): HostView {
    let anomalies = 0;
    for (const n of this.analysis.decoder.anomalies.counts.values()) anomalies += n;
    return {
      ...identityView(this.identity),
      connected: this.connected,
      ended: this.isEnded,
      connectedSince: this.connectedSince,
      lastBatchWall: this.lastBatch,
      events: this.analysis.events,
      lost: this.analysis.losses.total,
      anomalies,
      anomalyKinds: Object.fromEntries(this.analysis.decoder.anomalies.counts),
      duplicates: this.duplicates,
      missingBatches: this.missingBatches,
      now_s: seconds(this.analysis.lastT ?? 0),
      ...this.keptViews(),
      replay,
      failed: null,
    };
  }

  flags(): FlagSummary[] {
    return [...this.ids.keys()].map((f) => this.summary(f));
  }

  losses(): LossMark[] {
    return lossMarks(this.analysis, this.host);
  }

  detail(id: string): FlagDetail | undefined {
    const f = this.byId.get(id);
    if (f === undefined) return undefined;
    const rule = findRule(f.rule);
    const objects = f.objects.flatMap((o) => objectHistories(this.analysis, this.history, this.host, o.addr, [o.kind]));
    return {
      flag: this.summary(f),
      title: rule?.title ?? f.rule,
      explanation: rule?.explanation ?? '',
      thread: mailingListLine(f.mailingList),
      guard: f.guard ? { ...f.guard } : null,
      uncertainty: uncertaintyOf(this.analysis, f),
      evidence: f.evidence.map(evidenceView),
      objects,
    };
  }

  objects(addrText: string, kinds?: readonly ObjectKind[]): ObjectHistory[] {
    const addr = parseAddr(addrText);
    return addr === undefined ? [] : objectHistories(this.analysis, this.history, this.host, addr, kinds);
  }

  private summary(f: Flag): FlagSummary {
    return flagSummary(this.analysis, f, this.ids.get(f)!, this.host, this.run, this.raisedWall.get(f)!, this.raisedAt.get(f)!);
  }

  /** New loss reports: tell the listeners, and re-send flags whose confidence a loss may change. */
  private checkLosses(): void {
    const reports = this.analysis.losses.reports;
    if (reports === this.lossReports) return;
    this.lossReports = reports;
    this.out.losses(this.host, this.losses());
    for (const f of this.ids.keys()) this.out.flag(this.summary(f));
  }
}

/** The settling pace a stream's identity implies (HostSession.pace). */
function paceOf(id: StreamIdentity): number {
  if (id.mode !== 'replay') return 1;
  const speed = id.header.replay_speed;
  if (speed === 'max') return 0;
  return typeof speed === 'number' && speed > 0 && Number.isFinite(speed) ? speed : 1;
}
