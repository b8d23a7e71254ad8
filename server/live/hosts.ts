/**
 * The one owner of the server's host sessions: it creates them (an agent's hello, a server replay
 * (re)starting), looks them up, drops them (a new run of the host, the host limit) and reads an
 * agent's journal back after a restart. Nothing else creates a HostSession or moves it between
 * connected and not; the sources that feed one (ingest.ts, replay.ts) get it from here.
 */
import type { AnalysisOptions } from '../analyze/pipeline.js';
import type { AgentHello, FlagSummary, HostView, LossMark } from '../shared/wire.js';
import { err, ok, type Result } from '../support/result.js';
import { checkHello, headerRefusal } from './hello.js';
import { HostSession, type LiveSession, type SessionListener, type SessionSource, type StreamIdentity } from './host-session.js';
import { Journal } from './journal.js';
import { nameProblem } from './names.js';
import { RemoteSession } from './remote-session.js';
import type { StorageState } from './storage.js';
import { WorkerPool } from './worker-pool.js';

export interface HostSessionsOptions {
  /** Analysis options for live streams; replays are analyzed exactly as `lifetrace analyze` does. */
  analysis: Partial<AnalysisOptions>;
  clock: () => number;
  /** Most hosts kept; past it the oldest one not holding its slot is forgotten, or a new host refused. */
  maxHosts: number;
  /** Where agents' streams are journaled (a restarted server resumes them); none: no journal. */
  journalDir: string | undefined;
  storage: StorageState;
  /**
   * Worker threads analyzing agents' streams (hosts assigned to the least loaded, for their
   * session's lifetime); 0: every session in this thread. Server replays stay in this thread.
   */
  workers: number;
  /** Most heap of one worker thread, MB (a host past it fails its worker's hosts, not the server). */
  workerHeapMb?: number | undefined;
}

/** What the sessions tell the server: flags and losses for the browsers, and sessions let go of. */
export interface HostEvents {
  flag(f: FlagSummary): void;
  losses(host: string, l: LossMark[]): void;
  /** A session's stream ended, or the session was replaced or forgotten: whatever it recorded is complete. */
  released(s: LiveSession): void;
}

/** An agent attached: its session, and (a restarted server reading the run's journal back) when it may be welcomed. */
export interface AgentAttach {
  session: LiveSession;
  ready: Promise<void> | undefined;
}

/** A host analyzed elsewhere (a fleet worker), mirrored here: it holds its slot while its stream goes on. */
const MIRROR: SessionSource = {
  holdsSlot: (s) => !s.ended,
  forget: () => {},
  replayView: () => null,
};

/** An agent's socket as a source: it holds its host's slot while connected. */
const AGENT: SessionSource = {
  holdsSlot: (s) => s.connected,
  forget: () => {},
  replayView: () => null,
};

interface Entry {
  session: LiveSession;
  source: SessionSource;
  /** While the journal of its run is read back. */
  restoring: Promise<void> | undefined;
}

export class HostSessions {
  private readonly entries = new Map<string, Entry>();
  /** The analysis worker threads, when there are any. */
  readonly pool: WorkerPool | undefined;

  constructor(
    private readonly options: HostSessionsOptions,
    private readonly out: HostEvents,
  ) {
    this.pool = options.workers > 0 ? new WorkerPool(options.workers, options.workerHeapMb) : undefined;
    // Journals of hosts past the host limit (left by an earlier server) are deleted: disk per host is bounded.
    if (options.journalDir !== undefined) Journal.sweep(options.journalDir, options.maxHosts, options.storage);
  }

  get size(): number {
    return this.entries.size;
  }

  get(host: string): LiveSession | undefined {
    return this.entries.get(host)?.session;
  }

  *values(): IterableIterator<LiveSession> {
    for (const e of this.entries.values()) yield e.session;
  }

  /** Every host as the API shows it (a server replay with its controls' state). */
  views(): HostView[] {
    return [...this.entries.values()].map((e) => e.session.view(e.source.replayView()));
  }

  /**
   * An agent said hello. The same run resumes its session; a new run of a host replaces the old
   * session, unless that one is still connected (two agents cannot both be one host).
   */
  attachAgent(unchecked: AgentHello): Result<AgentAttach> {
    const checked = checkHello(unchecked as unknown as Record<string, unknown>);
    if (!checked.ok) return checked;
    const hello = checked.value;
    const old = this.entries.get(hello.host);
    if (old !== undefined && old.source === AGENT && old.session.run === hello.run) {
      if (old.session.connected) return err(`host ${hello.host} run ${hello.run} is already connected`);
      old.session.connect();
      return ok({ session: old.session, ready: old.restoring });
    }
    if (old?.session.connected) return err(`host ${hello.host} already has a connected agent (run ${old.session.run})`);
    const room = this.makeRoom(hello.host);
    if (!room.ok) return room;
    const { analysis, clock } = this.options;
    const pool = this.pool;
    // An agent's stream goes to a worker thread when there are any.
    const entry = this.create(hello.host, AGENT, (l) =>
      pool === undefined ? new HostSession(hello, analysis, l, clock) : new RemoteSession(hello, analysis, pool.assign(), l, clock),
    );
    const dir = this.options.journalDir;
    if (dir !== undefined) {
      // A server restarted under a running agent: rebuild the host from the journal of its run (in
      // slices: the agent is welcomed once it is done), and the agent resumes after the last batch
      // it holds.
      if (old === undefined && Journal.exists(dir, hello))
        entry.restoring = this.restore(entry.session, dir, hello).finally(() => {
          entry.restoring = undefined;
        });
      else entry.session.attachJournal(Journal.create(dir, hello, this.options.storage));
    }
    return ok({ session: entry.session, ready: entry.restoring });
  }

  /** The agent's socket closed: its session stays, ready to resume. */
  agentGone(s: LiveSession): void {
    s.disconnect();
  }

  /**
   * A fresh session for a source of the server's own (a server replay starting, or starting over):
   * it replaces the host's session, journaled never (the source can always start over).
   */
  open(identity: StreamIdentity, source: SessionSource): Result<HostSession> {
    const why = nameProblem('host', identity.host) ?? headerRefusal(identity.header, 'the capture header');
    if (why !== undefined) return err(why);
    const old = this.entries.get(identity.host);
    if (old?.session.connected && old.source !== source)
      return err(`host ${identity.host} already has a connected agent (run ${old.session.run})`);
    old?.session.disconnect();
    const room = this.makeRoom(identity.host);
    if (!room.ok) return room;
    // A replay's flags are exactly `lifetrace analyze`'s: the default analysis, whatever the live options.
    // A server replay steers its session (pace, seeks, flags counted as raised): it stays in this thread.
    let session: HostSession | undefined;
    this.create(identity.host, source, (l) => (session = new HostSession(identity, {}, l, this.options.clock)));
    return ok(session!);
  }

  /**
   * A host analyzed elsewhere (a fleet worker, `serve --nats`): `make`'s session, which mirrors what
   * the worker publishes, replaces the host's session (a new run of the host).
   */
  mirror<S extends LiveSession>(host: string, make: (l: SessionListener) => S): Result<S> {
    const why = nameProblem('host', host);
    if (why !== undefined) return err(why);
    const room = this.makeRoom(host);
    if (!room.ok) return room;
    return ok(this.create(host, MIRROR, make).session as S);
  }

  /** `source` no longer feeds `host` (a replay stopped): the host stays, disconnected, until its slot is needed. */
  detach(host: string, source: SessionSource): void {
    const e = this.entries.get(host);
    if (e?.source === source) e.session.disconnect();
  }

  /** The server stops: journals are closed (not removed: a restarted server resumes from them), workers end. */
  async close(): Promise<void> {
    for (const e of this.entries.values()) e.session.closeJournal();
    await this.pool?.close();
  }

  private create(host: string, source: SessionSource, make: (l: SessionListener) => LiveSession): Entry {
    const old = this.entries.get(host);
    // A new run of the host: the old run's recording is finished, and its journal gone.
    if (old !== undefined) this.retire(old);
    const listener: SessionListener = {
      flag: (f) => this.out.flag(f),
      losses: (host, l) => this.out.losses(host, l),
      ended: (s) => this.out.released(s), // a recording ends with its stream
    };
    const session = make(listener);
    session.connect(this.options.clock());
    const entry: Entry = { session, source, restoring: undefined };
    this.entries.set(host, entry);
    this.out.losses(host, []);
    return entry;
  }

  private retire(e: Entry): void {
    this.out.released(e.session);
    e.session.dropJournal();
    e.session.dispose();
  }

  /** Room for `host`: it has a slot already, there is a free one, or an idle host is forgotten. */
  private makeRoom(host: string): Result<void> {
    if (this.entries.has(host) || this.entries.size < this.options.maxHosts || this.forgetOne()) return ok(undefined);
    return err(`this server follows ${this.options.maxHosts} hosts at most, all connected`);
  }

  /** Forgets the idle host heard from least recently; false when every host holds its slot. */
  private forgetOne(): boolean {
    let oldest: Entry | undefined;
    for (const e of this.entries.values()) {
      if (e.source.holdsSlot(e.session)) continue;
      if (oldest === undefined || (e.session.lastBatchWall ?? 0) < (oldest.session.lastBatchWall ?? 0)) oldest = e;
    }
    if (oldest === undefined) return false;
    const host = oldest.session.host;
    oldest.source.forget();
    this.retire(oldest);
    if (this.options.journalDir !== undefined) Journal.drop(this.options.journalDir, host, this.options.storage);
    this.entries.delete(host);
    return true;
  }

  /** Never rejects: a journal that cannot be read back is counted, and the stream goes on without it. */
  private async restore(s: LiveSession, dir: string, hello: AgentHello): Promise<void> {
    const storage = this.options.storage;
    let restored: Awaited<ReturnType<typeof Journal.restore>>;
    try {
      restored = await Journal.restore(dir, hello, storage, (seq, lines, afterDamage) => {
        if (afterDamage) s.journalDamaged();
        s.ingest(seq, lines);
      });
    } catch {
      storage.count('journal-unreadable');
      restored = undefined;
    }
    if (restored !== undefined && restored.damaged > 0) s.journalDamaged(); // the batches after the last whole frame, too
    await s.analyzed(); // on a worker thread: welcomed once it has analyzed what was read back
    // Forgotten meanwhile (the host limit, a new run): nothing of it is kept.
    if (this.entries.get(s.host)?.session !== s) return restored?.journal.remove();
    s.attachJournal(restored?.journal ?? Journal.create(dir, hello, storage));
  }
}
