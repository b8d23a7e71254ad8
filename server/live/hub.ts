/**
 * The server's state: one HostSession per host, and the browser feeds. Everything the browsers see
 * goes out from here, serialized once per message. A browser whose socket falls behind is skipped
 * (never waited for) and gets a fresh snapshot once it has drained: a slow client never slows ingest.
 */
import type { AnalysisOptions } from '../analyze/pipeline.js';
import type { ObjectKind } from '../model/objects.js';
import { byNewest, matchesFlag, type FlagCursor, type FlagMatch } from '../shared/flag-query.js';
import {
  STATS_INTERVAL_MS,
  type AgentHello,
  type FeedMessage,
  type FlagDetail,
  type FlagSummary,
  type HostView,
  type LossMark,
  type ObjectHistory,
  type StatsPoint,
} from '../shared/wire.js';
import { HostSession } from './host-session.js';
import { CaptureLibrary } from './captures.js';
import { CaptureDesk } from './desk.js';
import type { ServerReplay } from './replay.js';
import { Journal } from './journal.js';
import { checkHello } from './hello.js';
import { StorageState } from './storage.js';

/** How often new flags go out to browsers (and quiet streams are settled). */
const TICK_MS = 20;
/** Stats points per host in a snapshot (a minute at 500 ms). */
const SNAPSHOT_POINTS = 120;
/** Most flags in a snapshot (newest first); the REST API has the rest. */
const SNAPSHOT_FLAGS = 2000;

export interface FeedClient {
  send(data: string): void;
  /** Bytes queued on the socket and not yet sent. */
  readonly bufferedAmount: number;
}

export interface HubOptions {
  version: string;
  /** Analysis options for live streams; replays are analyzed exactly as `lifetrace analyze` does. */
  analysis: Partial<AnalysisOptions>;
  /** A browser with more than this queued is skipped until it drains. */
  feedBufferBytes: number;
  clock: () => number;
  /** The capture library's folder (recordings, uploads, replays from the page). */
  capturesDir: string | undefined;
  /** Most hosts kept; past it the oldest disconnected one is forgotten, or a new host refused. */
  maxHosts: number;
  /** Where agents' streams are journaled (a restarted server resumes them); none: no journal. */
  journalDir: string | undefined;
}

export const DEFAULT_HUB: HubOptions = {
  version: '0',
  analysis: {},
  feedBufferBytes: 4 << 20,
  clock: Date.now,
  capturesDir: undefined,
  maxHosts: 64,
  journalDir: undefined,
};

/** A page of GET /api/flags: the filter (shared with the dashboard), how many, and after which flag. */
export interface FlagQuery extends FlagMatch {
  limit: number;
  /** Only flags after this one in the order (a page's `next`). */
  after?: FlagCursor | undefined;
}

interface Feed {
  client: FeedClient;
  behind: boolean;
}

export class Hub {
  readonly sessions = new Map<string, HostSession>();
  readonly options: HubOptions;
  readonly library: CaptureLibrary | undefined;
  readonly replays = new Map<string, ServerReplay>();
  /** Recordings, the library and server-side replays. */
  readonly desk: CaptureDesk;
  /** Frames and messages refused from agents and browsers (hostile or broken), by reason. */
  readonly rejected = new Map<string, number>();
  /** The server's own disk writes: journals, recordings, uploads (GET /api/server). */
  readonly storage: StorageState;
  private readonly feeds = new Set<Feed>();
  private pendingFlags = new Map<string, FlagSummary>();
  private pendingLosses = new Map<string, LossMark[]>();
  private timer: NodeJS.Timeout | undefined;
  private lastStats = 0;

  constructor(options: Partial<HubOptions> = {}) {
    this.options = { ...DEFAULT_HUB, ...options };
    this.storage = new StorageState(this.options.clock);
    this.library = this.options.capturesDir === undefined ? undefined : new CaptureLibrary(this.options.capturesDir, this.storage);
    // Journals of hosts past the host limit (left by an earlier server) are deleted: disk per host is bounded.
    if (this.options.journalDir !== undefined) Journal.sweep(this.options.journalDir, this.options.maxHosts, this.storage);
    this.desk = new CaptureDesk(this);
  }

  start(): void {
    this.timer ??= setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const host of [...this.replays.keys()]) this.dropReplay(host);
    await this.desk.stopRecording();
    for (const s of this.sessions.values()) s.journal?.close();
  }

  get feedCount(): number {
    return this.feeds.size;
  }

  reject(reason: string): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
  }

  /**
   * An agent said hello. The same run resumes its session; a new run of a host replaces the old
   * session, unless that one is still connected (two agents cannot both be one host).
   */
  attach(unchecked: AgentHello, opts: { journal: boolean } = { journal: true }): HostSession | string {
    // Every host's hello passes here (agents, server replays): bounded once, for all of them.
    const hello = checkHello(unchecked as unknown as Record<string, unknown>);
    if (typeof hello === 'string') return hello;
    const old = this.sessions.get(hello.host);
    if (old !== undefined && old.run === hello.run) {
      if (old.connected) return `host ${hello.host} run ${hello.run} is already connected`;
      old.connected = true;
      return old;
    }
    if (old?.connected) return `host ${hello.host} already has a connected agent (run ${old.run})`;
    if (old === undefined && this.sessions.size >= this.options.maxHosts && !this.forgetOneHost()) {
      return `this server follows ${this.options.maxHosts} hosts at most, all connected`;
    }
    // A new run of the host: its recording (of the old run's stream) is finished.
    if (old !== undefined) {
      void this.desk.stopRecording(old.host);
      old.journal?.remove();
    }
    const s = new HostSession(
      hello,
      hello.mode === 'live' ? this.options.analysis : {},
      {
        flag: (f) => this.pendingFlags.set(f.id, f),
        losses: (host, l) => this.pendingLosses.set(host, l),
      },
      this.options.clock,
    );
    const dir = opts.journal ? this.options.journalDir : undefined;
    if (dir !== undefined) {
      // A server restarted under a running agent: rebuild the host from the journal of its run (in
      // slices: the agent is welcomed once it is done), and the agent resumes after the last batch
      // it holds.
      if (old === undefined && Journal.exists(dir, hello))
        s.restoring = this.restore(s, dir, hello).finally(() => {
          s.restoring = undefined;
        });
      else s.journal = Journal.create(dir, hello, this.storage);
    }
    s.connected = true;
    s.connectedSince = this.options.clock();
    s.onEnded = () => void this.desk.stopRecording(s.host); // a recording ends with its stream
    this.sessions.set(hello.host, s);
    this.pendingLosses.set(hello.host, []);
    return s;
  }

  /** Never rejects: a journal that cannot be read back is counted, and the stream goes on without it. */
  private async restore(s: HostSession, dir: string, hello: AgentHello): Promise<void> {
    const damaged = (): void => {
      s.missingCause = 'they were damaged in its journal';
    };
    let restored: Awaited<ReturnType<typeof Journal.restore>>;
    try {
      restored = await Journal.restore(dir, hello, this.storage, (seq, lines, afterDamage) => {
        if (afterDamage) damaged();
        s.ingest(seq, lines);
      });
    } catch {
      this.storage.count('journal-unreadable');
      restored = undefined;
    }
    if (restored !== undefined && restored.damaged > 0) damaged(); // the batches after the last whole frame, too
    // Forgotten meanwhile (the host limit, a new run): nothing of it is kept.
    if (this.sessions.get(s.host) !== s) return restored?.journal.remove();
    s.journal = restored?.journal ?? Journal.create(dir, hello, this.storage);
  }

  /** Forgets the idle host heard from least recently; false when every host holds its slot. */
  private forgetOneHost(): boolean {
    let oldest: HostSession | undefined;
    for (const s of this.sessions.values()) {
      if (this.holdsSlot(s)) continue;
      if (oldest === undefined || (s.lastBatchWall ?? 0) < (oldest.lastBatchWall ?? 0)) oldest = s;
    }
    if (oldest === undefined) return false;
    this.dropReplay(oldest.host);
    void this.desk.stopRecording(oldest.host);
    oldest.journal?.remove();
    if (this.options.journalDir !== undefined) Journal.drop(this.options.journalDir, oldest.host, this.storage);
    this.sessions.delete(oldest.host);
    return true;
  }

  /** A host keeps its slot while its agent is connected, or while a server replay plays into it. */
  private holdsSlot(s: HostSession): boolean {
    const r = this.replays.get(s.host);
    return r === undefined ? s.connected : !r.idle;
  }

  /** Server replays playing (not finished, not stopped). */
  get activeReplays(): number {
    let n = 0;
    for (const r of this.replays.values()) if (!r.idle) n++;
    return n;
  }

  /** Stops a server replay and lets go of it: its host stays, disconnected, until its slot is needed. */
  dropReplay(host: string): ServerReplay | undefined {
    const r = this.replays.get(host);
    if (r === undefined) return undefined;
    r.stop();
    this.replays.delete(host);
    const s = this.sessions.get(host);
    if (s !== undefined) s.connected = false;
    return r;
  }

  addFeed(client: FeedClient): () => void {
    const feed: Feed = { client, behind: false };
    const first = JSON.stringify(this.snapshot()); // before joining: if this throws, nothing is left behind
    this.feeds.add(feed);
    client.send(first);
    return () => this.feeds.delete(feed);
  }

  resnapshot(client: FeedClient): void {
    client.send(JSON.stringify(this.snapshot()));
  }

  snapshot(): Extract<FeedMessage, { type: 'snapshot' }> {
    const flags = this.flags({ limit: SNAPSHOT_FLAGS });
    const stats: StatsPoint[] = [];
    const losses: LossMark[] = [];
    for (const s of this.sessions.values()) {
      stats.push(...s.points.slice(-SNAPSHOT_POINTS));
      losses.push(...s.losses());
    }
    return { type: 'snapshot', version: this.options.version, hosts: this.hosts(), flags, stats, losses };
  }

  hosts(): HostView[] {
    return [...this.sessions.values()].map((s) => s.view());
  }

  flags(q: FlagQuery): FlagSummary[] {
    return this.flagPage(q).flags;
  }

  /** A page of the flags matching `q`, newest first, and where the next page starts (when there is one). */
  flagPage(q: FlagQuery): { flags: FlagSummary[]; next: FlagCursor | undefined } {
    const out: FlagSummary[] = [];
    for (const s of this.sessions.values()) {
      if (q.host !== undefined && s.host !== q.host) continue;
      for (const f of s.flags()) if (matchesFlag(q, f) && (q.after === undefined || byNewest(q.after, f) < 0)) out.push(f);
    }
    out.sort(byNewest);
    const flags = out.slice(0, q.limit);
    const last = flags[flags.length - 1];
    return { flags, next: out.length > q.limit && last !== undefined ? { wall: last.wall, time_s: last.time_s, id: last.id } : undefined };
  }

  flagDetail(id: string): FlagDetail | undefined {
    for (const s of this.sessions.values()) {
      const d = s.detail(id);
      if (d !== undefined) return d;
    }
    return undefined;
  }

  objects(addr: string, host?: string, kinds?: readonly ObjectKind[]): ObjectHistory[] {
    return [...this.sessions.values()].filter((s) => host === undefined || s.host === host).flatMap((s) => s.objects(addr, kinds));
  }

  stats(host: string): { points: StatsPoint[]; losses: LossMark[] } | undefined {
    const s = this.sessions.get(host);
    return s === undefined ? undefined : { points: s.points, losses: s.losses() };
  }

  /** Settles quiet streams, sends new flags and losses, and every STATS_INTERVAL_MS the activity. */
  tick(): void {
    const now = this.options.clock();
    for (const s of this.sessions.values()) s.tick(now);
    if (this.pendingFlags.size > 0) {
      this.broadcast({ type: 'flags', flags: [...this.pendingFlags.values()] });
      this.pendingFlags = new Map();
    }
    if (this.pendingLosses.size > 0) {
      this.broadcast({ type: 'losses', losses: [...this.pendingLosses.values()].flat() });
      this.pendingLosses = new Map();
    }
    if (now - this.lastStats >= STATS_INTERVAL_MS) {
      this.lastStats = now;
      const points = [...this.sessions.values()].filter((s) => !s.ended || s.points.length === 0).map((s) => s.sample(now));
      this.broadcast({ type: 'stats', hosts: this.hosts(), points });
    }
  }

  private broadcast(msg: FeedMessage): void {
    if (this.feeds.size === 0) return;
    const data = JSON.stringify(msg);
    const limit = this.options.feedBufferBytes;
    for (const feed of this.feeds) {
      const buffered = feed.client.bufferedAmount;
      if (feed.behind) {
        if (buffered > limit / 4) continue;
        feed.behind = false;
        this.resnapshot(feed.client); // it missed messages: start it over from the current state
        continue;
      }
      if (buffered > limit) {
        feed.behind = true;
        this.reject('feed-client-behind');
        continue;
      }
      feed.client.send(data);
    }
  }
}
