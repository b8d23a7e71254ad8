/**
 * One host's stream on the server: the agent's batches, in sequence, into an Analysis of their
 * own; flags, losses and activity samples out. A reconnecting agent resumes from `lastSeq`: a batch
 * it sends again is counted as a duplicate and not analyzed twice.
 */
import { Analysis, type AnalysisOptions } from '../analyze/pipeline.js';
import { serializeHeader, type CaptureHeader } from '../capture/header.js';
import { FAMILIES } from '../model/events.js';
import { OBJECT_KINDS } from '../model/objects.js';
import type { AgentHello, FlagDetail, FlagSummary, HostView, LossMark, ObjectHistory, ReplayView, StatsPoint } from '../shared/wire.js';
import type { Recording } from './recording.js';
import type { Journal } from './journal.js';
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
/** Activity samples kept per host (at 500 ms: ten minutes). */
const MAX_POINTS = 1200;

export interface SessionListener {
  flag(f: FlagSummary): void;
  losses(host: string, l: LossMark[]): void;
}

export type IngestResult = { ok: true } | { ok: false; duplicate: true };

export class HostSession {
  readonly host: string;
  readonly run: string;
  readonly analysis: Analysis;
  readonly points: StatsPoint[] = [];
  lastSeq = 0;
  duplicates = 0;
  /** Batches skipped in the sequence: never received (counted, and a loss window). */
  missingBatches = 0;
  /** Why skipped batches are missing (the journal says when it was damaged). */
  missingCause = 'it restarted without them';
  connected = false;
  ended = false;
  connectedSince = 0;
  lastBatchWall: number | null = null;
  /** What the agent sent, kept so that a restarted server can resume the stream exactly. */
  journal: Journal | undefined;
  /** Recording this stream into the capture library. */
  recording: Recording | undefined;
  /** Set when the server replays a capture as this host. */
  replayView: (() => ReplayView) | undefined;
  private settled = true;
  /**
   * Kernel time per wall time while the stream is quiet (see tick): 1 live; a replay's speed; 0 for
   * a replay at full speed or paused. A server-side replay sets it as it plays; an agent's replay says
   * its speed in its header's `replay_speed` (else it is paced as live).
   */
  pace: number;
  private readonly history = new LifetimeHistory();
  private readonly ids = new Map<Flag, string>();
  private readonly byId = new Map<string, Flag>();
  private readonly raisedWall = new Map<Flag, number>();
  private readonly raisedAt = new Map<Flag, number>();
  private lastRecords: Record<string, number>;
  private lastSampleWall: number;
  private lossReports = 0;

  constructor(
    readonly hello: AgentHello,
    options: Partial<AnalysisOptions>,
    private readonly out: SessionListener,
    private readonly clock: () => number,
  ) {
    this.host = hello.host;
    this.run = hello.run;
    this.pace = paceOf(hello);
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
    this.analysis.push(`${serializeHeader(hello.header as CaptureHeader)}\n`);
    this.lastRecords = { ...this.analysis.decoder.info.records };
    this.lastSampleWall = clock();
  }

  /** An agent's batch; `head` is its frame head, for the journal. */
  ingest(seq: number, lines: Uint8Array, head?: Uint8Array): IngestResult {
    if (seq <= this.lastSeq) {
      this.duplicates++;
      return { ok: false, duplicate: true };
    }
    const first = this.lastSeq + 1;
    const from = this.analysis.unseenFrom;
    this.lastSeq = seq;
    if (head !== undefined) this.journal?.append(head, lines); // before the ack: a restart can resume
    this.feed(lines);
    // Batches the agent no longer has and this server never analyzed (it restarted without its
    // journal, or its journal was damaged): what they held is lost, somewhere between the records
    // before and these.
    // (Their records may also lie later than any received yet: as far as the reorder window lets a
    // record come late, the bound the analysis puts records in order by.)
    if (seq > first) this.missed(first, seq - 1, from, this.analysis.newestT + this.analysis.reorderWindowNs);
    return { ok: true };
  }

  /** Batches first..last never reached this server: a recorded loss over [from, to] in kernel time. */
  private missed(first: number, last: number, from: number, to: number): void {
    this.missingBatches += last - first + 1;
    this.analysis.markGap(from, to, `batches ${first}-${last} never reached this server (${this.missingCause})`);
    this.checkLosses();
  }

  /** Raw capture lines, in order (a batch from the agent, or a server-side replay). */
  feed(lines: Uint8Array): void {
    if (this.ended) throw new Error(`host ${this.host}: lines fed after the end of its stream`);
    this.lastBatchWall = this.clock();
    this.settled = false;
    const buf = Buffer.from(lines.buffer, lines.byteOffset, lines.byteLength);
    this.analysis.pushContained(buf);
    this.recording?.write(buf);
    this.checkLosses();
  }

  /** A line of the replayed file too long to send (MAX_LINE_BYTES): counted where it was. */
  skippedLongLine(bytes: number): void {
    this.analysis.skippedLongLine(bytes);
  }

  /** The stream's header line, as a recording starts with it. */
  headerLine(): string {
    return serializeHeader(this.hello.header as CaptureHeader);
  }

  /**
   * Called often (every hub tick): settles a quiet stream, taking kernel time to have passed at `pace`
   * times the wall time it was quiet for. Never at pace 0: a replay at full speed or paused is quiet
   * because its sender is (a busy server, a slow disk), not its kernel, and the next batch may hold a
   * record of another CPU seconds older in kernel time: settling made it a late-event that `lifetrace
   * analyze` does not have. Such a replay is ordered exactly as analyze orders it.
   */
  tick(now: number): void {
    if (this.pace <= 0 || this.settled || this.ended || this.lastBatchWall === null) return;
    const idle = (now - this.lastBatchWall) * this.pace;
    if (idle >= SETTLE_AFTER_MS) this.analysis.settle(idle * 1e6);
    if (idle > 15_000) this.settled = true; // past any window: everything is out
  }

  /**
   * The stream ended for good after batch `lastSeq` (the agent's word): rules flag what is still
   * pending. Batches the agent sent, had acknowledged and this server no longer has (a damaged
   * journal) are a recorded loss up to the end.
   */
  end(lastSeq = this.lastSeq): void {
    if (this.ended) return;
    if (lastSeq > this.lastSeq) {
      this.missed(this.lastSeq + 1, lastSeq, this.analysis.unseenFrom, Infinity);
      this.lastSeq = lastSeq;
    }
    this.ended = true;
    this.analysis.end();
    this.checkLosses();
    this.journal?.remove();
    this.journal = undefined;
    this.onEnded?.();
  }

  /** While its journal is read back (a restarted server): the agent is welcomed once it is done. */
  restoring: Promise<void> | undefined;

  /** Called once the stream has ended. */
  onEnded: (() => void) | undefined;

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
    this.points.push(p);
    if (this.points.length > MAX_POINTS) this.points.splice(0, this.points.length - MAX_POINTS);
    return p;
  }

  view(): HostView {
    const h = this.hello.header;
    let anomalies = 0;
    for (const n of this.analysis.decoder.anomalies.counts.values()) anomalies += n;
    return {
      host: this.host,
      run: this.run,
      mode: this.hello.mode,
      label: this.hello.label ?? null,
      kernel: typeof h.kernel === 'string' ? h.kernel : 'unknown',
      families: typeof h.families === 'object' && h.families !== null ? Object.keys(h.families) : [],
      rules: this.hello.rules,
      connected: this.connected,
      ended: this.ended,
      connectedSince: this.connectedSince,
      lastBatchWall: this.lastBatchWall,
      events: this.analysis.events,
      lost: this.analysis.losses.total,
      anomalies,
      anomalyKinds: Object.fromEntries(this.analysis.decoder.anomalies.counts),
      duplicates: this.duplicates,
      missingBatches: this.missingBatches,
      now_s: seconds(this.analysis.lastT ?? 0),
      recording: this.recording?.view() ?? null,
      journal: this.journal?.view() ?? null,
      replay: this.replayView?.() ?? null,
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

/** The settling pace a hello implies (HostSession.pace). */
function paceOf(hello: AgentHello): number {
  if (hello.mode !== 'replay') return 1;
  const speed = hello.header.replay_speed;
  if (speed === 'max') return 0;
  return typeof speed === 'number' && speed > 0 && Number.isFinite(speed) ? speed : 1;
}
