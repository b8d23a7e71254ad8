/**
 * The server's state: the host sessions (hosts.ts owns them), the capture desk, and the browser
 * feeds. Everything the browsers see goes out from here, serialized once per message. A browser
 * whose socket falls behind is skipped (never waited for) and gets a fresh snapshot once it has
 * drained: a slow client never slows ingest.
 */
import type { AnalysisOptions } from '../analyze/pipeline.js';
import type { ObjectKind } from '../model/objects.js';
import { byNewest, matchesFlag, type FlagCursor, type FlagMatch } from '../shared/flag-query.js';
import {
  STATS_INTERVAL_MS,
  type FeedMessage,
  type FlagDetail,
  type FlagSummary,
  type FleetView,
  type HostStats,
  type HostView,
  type LossMark,
  type ObjectHistory,
  type StatsPoint,
} from '../shared/wire.js';
import type { StreamRanges } from '../fleet/stream-ranges.js';
import { CaptureLibrary } from './captures.js';
import { CaptureDesk } from './desk.js';
import { HostSessions } from './hosts.js';
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
  /** Worker threads analyzing agents' streams; 0: all in this thread (hosts.ts). */
  workers: number;
  /** Most heap of one worker thread, MB (default WORKER_HEAP_MB). */
  workerHeapMb?: number | undefined;
  /** The fleet's stream read as captures (GET /api/streams), when the server has a NATS connection. */
  streams?: StreamRanges | undefined;
}

export const DEFAULT_HUB: HubOptions = {
  version: '0',
  analysis: {},
  feedBufferBytes: 4 << 20,
  clock: Date.now,
  capturesDir: undefined,
  maxHosts: 64,
  journalDir: undefined,
  workers: 0,
};

/** A page of GET /api/flags: the filter (shared with the dashboard), how many, and after which flag. */
export interface FlagQuery extends FlagMatch {
  limit: number;
  /** Only flags after this one in the order (a page's `next`). */
  after?: FlagCursor | undefined;
}

export interface FlagPage {
  flags: FlagSummary[];
  next: FlagCursor | undefined;
}

/** The flags matching `q` (its host aside: the caller picks the hosts), newest first, cut to a page. */
export function pageOfFlags(flags: readonly FlagSummary[], q: FlagQuery): FlagPage {
  const out = flags.filter((f) => matchesFlag(q, f) && (q.after === undefined || byNewest(q.after, f) < 0));
  out.sort(byNewest);
  const page = out.slice(0, q.limit);
  const last = page[page.length - 1];
  return {
    flags: page,
    next: out.length > q.limit && last !== undefined ? { wall: last.wall, time_s: last.time_s, id: last.id } : undefined,
  };
}

interface Feed {
  client: FeedClient;
  behind: boolean;
}

export class Hub {
  /** Every host's session: created, looked up and dropped there only. */
  readonly sessions: HostSessions;
  readonly options: HubOptions;
  /** Recordings, the library and server-side replays. */
  readonly desk: CaptureDesk;
  /** Frames and messages refused from agents and browsers (hostile or broken), by reason. */
  readonly rejected = new Map<string, number>();
  /** The server's own disk writes: journals, recordings, uploads (GET /api/server). */
  readonly storage: StorageState;
  /** A dashboard of a fleet (`serve --nats`): its link to the broker (its hosts are FleetSessions). */
  fleet: { view(): FleetView } | undefined;
  private readonly feeds = new Set<Feed>();
  private pendingFlags = new Map<string, FlagSummary>();
  private pendingLosses = new Map<string, LossMark[]>();
  private timer: NodeJS.Timeout | undefined;
  private lastStats = 0;
  /** A round of activity samples is out (sessions on worker threads answer later). */
  private sampling = false;

  constructor(options: Partial<HubOptions> = {}) {
    this.options = { ...DEFAULT_HUB, ...options };
    const { analysis, clock, maxHosts, journalDir, capturesDir, workers, workerHeapMb } = this.options;
    this.storage = new StorageState(clock);
    const library = capturesDir === undefined ? undefined : new CaptureLibrary(capturesDir, this.storage);
    this.sessions = new HostSessions(
      { analysis, clock, maxHosts, journalDir, storage: this.storage, workers, workerHeapMb },
      {
        flag: (f) => this.pendingFlags.set(f.id, f),
        losses: (host, l) => this.pendingLosses.set(host, l),
        released: (s) => void this.desk.finishRecording(s),
      },
    );
    this.desk = new CaptureDesk(this.sessions, library, this.storage, clock, this.options.streams);
  }

  /** The capture library (recordings, uploads, replays from the page), when the server has a folder for it. */
  get library(): CaptureLibrary | undefined {
    return this.desk.library;
  }

  start(): void {
    this.timer ??= setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.desk.stop();
    await this.sessions.close();
  }

  get feedCount(): number {
    return this.feeds.size;
  }

  reject(reason: string): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
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
    return this.sessions.views();
  }

  flags(q: FlagQuery): FlagSummary[] {
    return this.flagPage(q).flags;
  }

  /** A page of the flags matching `q`, newest first, and where the next page starts (when there is one). */
  flagPage(q: FlagQuery): FlagPage {
    const all: FlagSummary[] = [];
    for (const s of this.sessions.values()) if (q.host === undefined || s.host === q.host) all.push(...s.flags());
    return pageOfFlags(all, q);
  }

  /** A flag with its evidence (asked of the worker thread that analyzes its host, if one does). */
  async flagDetail(id: string): Promise<FlagDetail | undefined> {
    for (const s of this.sessions.values()) {
      const d = await s.detail(id);
      if (d !== undefined) return d;
    }
    return undefined;
  }

  async objects(addr: string, host?: string, kinds?: readonly ObjectKind[]): Promise<ObjectHistory[]> {
    const of = [...this.sessions.values()].filter((s) => host === undefined || s.host === host);
    return (await Promise.all(of.map((s) => s.objects(addr, kinds)))).flat();
  }

  stats(host: string): HostStats | undefined {
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
    if (now - this.lastStats >= STATS_INTERVAL_MS && !this.sampling) {
      this.lastStats = now;
      this.sampling = true;
      void this.sampleAll(now).finally(() => {
        this.sampling = false;
      });
    }
  }

  /** One activity point per streaming host, then the hosts and points to the browsers. */
  private async sampleAll(now: number): Promise<void> {
    const samples = [...this.sessions.values()].filter((s) => !s.ended || s.points.length === 0).map((s) => s.sample(now));
    const points = (await Promise.all(samples)).filter((p) => p !== undefined);
    this.broadcast({ type: 'stats', hosts: this.hosts(), points });
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
