/**
 * What a stateless dashboard (`serve --nats`) knows of a fleet: the workers' results, read from the
 * broker into FleetSessions that the hub serves like any host. Nothing is kept but what the broker
 * keeps: a dashboard started at any time reads the results stream from its start (flags and loss
 * windows, the latest of each) and the stats subject from then on, so any number of dashboards show
 * the same flags.
 *
 * Results of a host come per run (the agent's run; the worker's sequence numbers start over with
 * each). Per flag id the message with the highest Lifetrace-Seq wins (a worker that took a host
 * over publishes it again); per run the latest loss list wins. A host's runs are ordered by where
 * they start in its stream (Lifetrace-Run-Seq, `runSeq` in the stats): its session follows the
 * newest run its owner's stats show and never goes back to an older one (a worker replaying a host
 * it took over goes through the host's earlier runs before it reaches the current one), and the
 * results of runs older than the one followed are let go of. Every message is checked field by
 * field (results-check.ts): one that is not what a worker publishes is counted, never thrown.
 */
import { DeliverPolicy, jetstream, JetStreamApiCodes, JetStreamApiError, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { connect, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { connectionOptions, connectRefusal, type NatsTarget } from '../fleet/connect.js';
import {
  FLAGS_SUBJECTS,
  LOSSES_SUBJECTS,
  RESULTS_STREAM,
  RUN_HEADER,
  RUN_SEQ_HEADER,
  SEQ_HEADER,
  STATS_SUBJECTS,
  type StatsMessage,
} from '../fleet/results.js';
import { hostOfToken, hostToken } from '../fleet/subjects.js';
import type { HostSessions } from '../live/hosts.js';
import type { FleetView, FlagSummary, LossMark } from '../shared/wire.js';
import { err, ok, type Result } from '../support/result.js';
import { FleetSession } from './fleet-session.js';
import { checkFlag, checkLosses, checkStats } from './results-check.js';

export interface FleetMirrorOptions {
  target: NatsTarget;
  hosts: HostSessions;
  clock: () => number;
  log(s: string): void;
}

/** What the results stream said of one run of a host. */
interface RunResults {
  /** Where the run starts in the host's stream: runs are ordered by it. */
  runSeq: number;
  flags: Map<string, { seq: number; flag: FlagSummary }>;
  losses: { seq: number; list: LossMark[] } | undefined;
}

interface HostState {
  /** The results of the run followed and of any newer ones seen (an older run's are let go of). */
  runs: Map<string, RunResults>;
  session: FleetSession | undefined;
  /** The runSeq of the run followed (-1: none yet): results and stats of older runs are ignored. */
  followedSeq: number;
  /** Why the server would not take the host (said once). */
  refused: string | undefined;
}

export class FleetMirror {
  private readonly state = new Map<string, HostState>();
  private readonly readers: Promise<void>[] = [];
  private readonly open = new Set<ConsumerMessages>();
  private stats: Subscription | undefined;
  private stopped = false;
  /** Between a disconnect and the client's reconnect. */
  private connected = true;
  private resultsRead = 0;
  private badMessages = 0;

  private constructor(
    /** The broker connection (the server reads the fleet's stream as captures on it too). */
    readonly nc: NatsConnection,
    private readonly o: FleetMirrorOptions,
  ) {}

  /** Connects (a refused credential is an error value) and starts reading. */
  static async start(o: FleetMirrorOptions): Promise<Result<FleetMirror>> {
    let nc: NatsConnection;
    try {
      nc = await connect({ ...connectionOptions(o.target, 'lifetrace serve', 'dashboard'), waitOnFirstConnect: true });
    } catch (e) {
      return err(connectRefusal(e, 'dashboard'));
    }
    const m = new FleetMirror(nc, o);
    void m.watchStatus();
    m.stats = nc.subscribe(`${STATS_SUBJECTS}.>`, {
      callback: (e, msg) => {
        if (e === null) m.onStats(msg);
      },
    });
    for (const subject of [FLAGS_SUBJECTS, LOSSES_SUBJECTS]) m.readers.push(m.follow(`${subject}.>`));
    return ok(m);
  }

  /** The broker connection and what was read, for GET /api/server. */
  view(): FleetView {
    return {
      url: this.o.target.url,
      connected: !this.nc.isClosed() && this.connected,
      hosts: this.state.size,
      resultsRead: this.resultsRead,
      badMessages: this.badMessages,
    };
  }

  /** When the connection closes for good (the broker refused the credentials on a reconnect, or stop). */
  async closed(): Promise<Error | undefined> {
    return (await this.nc.closed()) ?? undefined;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stats?.unsubscribe();
    for (const m of this.open) await m.close().catch(() => {});
    await Promise.all(this.readers);
    await this.nc.close().catch(() => {});
  }

  /**
   * Reads one results subject of the stream from its start, and on: when reading ends (the broker
   * restarted, the stream is not there yet), it starts again after the last message read.
   */
  private async follow(filter: string): Promise<void> {
    const js = jetstream(this.nc);
    let after = 0;
    let problem = '';
    while (!this.stopped) {
      try {
        const consumer = await js.consumers.get(RESULTS_STREAM, {
          filter_subjects: filter,
          ...(after > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: after + 1 } : {}),
        });
        const messages = await consumer.consume({ max_messages: 256 });
        this.open.add(messages);
        if (this.stopped) await messages.close(); // stopped while it was being set up: stop() did not see it
        problem = '';
        try {
          for await (const m of messages) {
            if (this.stopped) break;
            if (m.seq <= after) continue; // read before the reading started again
            after = m.seq;
            this.onResult(m);
          }
        } finally {
          this.open.delete(messages);
        }
      } catch (e) {
        const now =
          e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound
            ? `no ${RESULTS_STREAM} stream yet (no worker has started)`
            : (e as Error).message;
        if (now !== problem && !this.stopped) this.o.log(`lifetrace: serve --nats: ${filter}: ${now}; reading again`);
        problem = now;
      }
      if (!this.stopped) await new Promise((r) => setTimeout(r, problem === '' ? 100 : 1000));
    }
  }

  /** Follows the client's connection (it reconnects by itself, forever: connectionOptions). */
  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect') this.connected = false;
      else if (s.type === 'reconnect') {
        this.connected = true;
        // The broker may have restarted without the readers' consumers: read again at once, after
        // the last message read, rather than when the client's missed heartbeats say so (30 s).
        for (const m of this.open) void m.close().catch(() => {});
      }
    }
  }

  /** A flag or a loss list from the results stream; a message that is not one is counted, never thrown. */
  private onResult(m: JsMsg): void {
    const flag = m.subject.startsWith(`${FLAGS_SUBJECTS}.`);
    const token = m.subject.slice((flag ? FLAGS_SUBJECTS : LOSSES_SUBJECTS).length + 1);
    const host = hostOfToken(token);
    const seq = Number(m.headers?.get(SEQ_HEADER) || Number.NaN);
    const runSeq = Number(m.headers?.get(RUN_SEQ_HEADER) || Number.NaN);
    const run = m.headers?.get(RUN_HEADER) ?? '';
    if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(runSeq) || run === '' || hostToken(host) !== token)
      return void this.badMessages++;
    let value: unknown;
    try {
      value = m.json<unknown>();
    } catch {
      return void this.badMessages++;
    }
    const taken = flag ? checkFlag(value, host, run) : checkLosses(value, host);
    if (taken === undefined) return void this.badMessages++;
    this.resultsRead++;
    const h = this.hostState(host);
    if (runSeq < h.followedSeq) return; // an older run's, published again by a worker replaying the host
    let results = h.runs.get(run);
    if (results === undefined) {
      results = { runSeq, flags: new Map(), losses: undefined };
      h.runs.set(run, results);
    }
    const current = h.session?.run === run ? h.session : undefined;
    if (flag) {
      const f = taken as FlagSummary;
      const had = results.flags.get(f.id);
      if (had !== undefined && had.seq > seq) return; // a replay's earlier state of a flag already read
      results.flags.set(f.id, { seq, flag: f });
      current?.takeFlag(f);
    } else {
      if (results.losses !== undefined && results.losses.seq > seq) return;
      results.losses = { seq, list: taken as LossMark[] };
      current?.takeLosses(results.losses.list);
    }
  }

  /** A worker's stats of a host: its view and activity (and, for a newer run than the one followed, a new session). */
  private onStats(msg: Msg): void {
    let value: unknown;
    try {
      value = msg.json<unknown>();
    } catch {
      return void this.badMessages++;
    }
    const m = checkStats(value);
    if (m === undefined || msg.subject !== `${STATS_SUBJECTS}.${hostToken(m.host.host)}`) return void this.badMessages++;
    const h = this.hostState(m.host.host);
    // Its session, unless the server let it go (the host limit): then the host is taken again.
    const held = h.session !== undefined && this.o.hosts.get(h.session.host) === h.session ? h.session : undefined;
    if (held?.run === m.host.run) return held.takeStats(m);
    if (m.runSeq < h.followedSeq || (held !== undefined && m.runSeq === h.followedSeq)) return; // an older run: its owner is replaying the host
    this.followRun(h, m);
  }

  /** The host's session follows run `m.host.run` from now on; older runs' results are let go of. */
  private followRun(h: HostState, m: StatsMessage): void {
    const { hosts, clock, log } = this.o;
    let made: FleetSession | undefined;
    const opened = hosts.mirror(m.host.host, (listener) => (made = new FleetSession(m, this.nc, listener, clock)));
    if (!opened.ok) {
      if (h.refused !== opened.error) log(`lifetrace: serve --nats: host ${m.host.host}: ${opened.error}`);
      h.refused = opened.error;
      return;
    }
    h.refused = undefined;
    const s = made!;
    h.session = s;
    h.followedSeq = m.runSeq;
    for (const [run, r] of h.runs) if (r.runSeq < m.runSeq) h.runs.delete(run);
    const results = h.runs.get(s.run);
    if (results !== undefined) {
      for (const { flag } of results.flags.values()) s.takeFlag(flag);
      if (results.losses !== undefined) s.takeLosses(results.losses.list);
    }
    // Its activity before this dashboard heard of it, from its owner.
    void s.history().then((past) => {
      if (past !== undefined && h.session === s) s.backfill(past.points);
    });
  }

  private hostState(host: string): HostState {
    let h = this.state.get(host);
    if (h === undefined) {
      h = { runs: new Map(), session: undefined, followedSeq: -1, refused: undefined };
      this.state.set(host, h);
    }
    return h;
  }
}
