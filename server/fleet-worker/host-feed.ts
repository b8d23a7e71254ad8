/**
 * One host a fleet worker owns: the host's subject of the fleet's stream read from its start by an
 * ordered consumer, each run's hello, batches and end fed to a HostSession (the analysis of the
 * stream, as `serve` runs it for a connected agent), and what the session reports published: flags
 * and loss windows to the results stream, stats samples on core NATS, answers to queries.
 */
import { DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import { headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { AnalysisOptions } from '../analyze/pipeline.js';
import {
  flagMessageId,
  flagsSubject,
  lossesMessageId,
  lossesSubject,
  querySubject,
  RUN_HEADER,
  RUN_SEQ_HEADER,
  SEQ_HEADER,
  statsSubject,
  type QueryAnswer,
  type QueryRequest,
  type StatsMessage,
} from '../fleet/results.js';
import { batchSubject, KIND_HEADER, STREAM } from '../fleet/subjects.js';
import { parseAgentMessage } from '../live/hello.js';
import { HostSession } from '../live/host-session.js';
import type { Pacer } from './pacer.js';
import { OBJECT_KINDS, type ObjectKind } from '../model/objects.js';
import { BATCH_HEAD, decodeBatchHead, type FlagSummary, type HostView, type LossMark } from '../shared/wire.js';

/** Messages the consumer fetches ahead of the analysis (a batch is about 256 KB). */
const PREFETCH = 8;

export interface HostFeedOptions {
  analysis: Partial<AnalysisOptions>;
  clock: () => number;
  /** The worker's one time budget, shared by its hosts. */
  pacer: Pacer;
  log(s: string): void;
}

/**
 * How far behind the stream the analysis runs: for each batch, the time from when this worker could
 * have it (stored in the stream, or this worker took the host, whichever is later) to its analysis, ms.
 */
export interface LagView {
  batches: number;
  p50: number;
  p99: number;
  max: number;
}

/** What a feed has done since its worker took the host (the worker's /metrics reads them). */
export interface FeedCounts {
  /** Messages of the host's subject handled (hello, batch, end), each once however often it was read. */
  messages: number;
  /** Their data bytes. */
  bytes: number;
  /** Result messages (flags, loss lists) published. */
  published: number;
  /** Publishes the broker did not store (each then sends the session's whole state again). */
  publishFailures: number;
  /** Result messages published again as part of such a whole state. */
  republished: number;
}

export class HostFeed {
  readonly counts: FeedCounts = { messages: 0, bytes: 0, publishFailures: 0, republished: 0, published: 0 };
  /** Messages of the host's subject after the last one handled, not yet handled: the backlog (0 once caught up). */
  backlog = 0;
  private session: HostSession | undefined;
  private messages: ConsumerMessages | undefined;
  private query: Subscription | undefined;
  private loop: Promise<void> = Promise.resolve();
  private stopped = false;
  /** Flags changed since the last publish (the latest summary of each). */
  private readonly dirtyFlags = new Map<string, FlagSummary>();
  private dirtyLosses: LossMark[] | undefined;
  /** The batch of the current run whose publish is pending: results published after it carry it. */
  private seq = 0;
  /** The stream sequence of the current run's hello: a host's runs are ordered by it. */
  private runSeq = 0;
  private ticks = 0;
  private readonly lags: number[] = [];
  /** When this worker took the host (a batch stored before waited for the worker, not for the analysis). */
  private since = 0;
  /** A result failed to be stored: the next flush publishes the session's whole state. */
  private unstored = false;
  /** Stream sequence of the last message handled. */
  private streamSeq = 0;
  /** Where reading last started again after skipped messages (once per position). */
  private resumedAfter = -1;
  private markStarted!: () => void;
  private readonly started = new Promise<void>((r) => {
    this.markStarted = r;
  });
  /** Why the stream's messages are skipped (no hello yet, a refused one), said once. */
  private skipping: string | undefined;

  constructor(
    readonly host: string,
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly o: HostFeedOptions,
  ) {}

  /** Starts reading the host's subject from its start, and answering its queries. */
  async start(): Promise<void> {
    this.since = this.o.clock();
    this.query = this.nc.subscribe(querySubject(this.host), {
      queue: 'lifetrace-workers',
      callback: (e, m) => {
        if (e === null) this.answer(m);
      },
    });
    this.loop = this.keepFollowing();
    await this.started;
  }

  /**
   * Follows the subject until stopped: when reading ends (messages skipped, the consumer lost with
   * the broker, a failure), it starts again after the last message handled.
   */
  private async keepFollowing(): Promise<void> {
    let problem = '';
    while (!this.stopped) {
      let again = false;
      try {
        again = await this.follow(this.streamSeq + 1);
        problem = '';
      } catch (e) {
        const now = (e as Error).message;
        if (now !== problem) this.o.log(`lifetrace: worker: host ${this.host}: ${now}; reading again after ${this.streamSeq}`);
        problem = now;
      } finally {
        this.markStarted();
      }
      if (!this.stopped && !again) await new Promise((r) => setTimeout(r, problem === '' ? 100 : 500));
    }
  }

  /**
   * Reads the host's subject from stream sequence `from` on, until it ends or skips (true: read
   * again at once). A run's batches come in sequence (an agent publishes the next once the
   * previous is stored): a batch past the next one, or an end past the last, means the consumer
   * skipped messages (the client's ordered consumer restarts after the last message it fetched,
   * not the last one analyzed, when its heartbeats are missed), so reading starts again after the
   * last message handled. Once per position: a gap that is
   * really in the stream (cut by its retention) is then analyzed as a loss, as `serve` does.
   */
  private async follow(from: number): Promise<boolean> {
    const consumer = await this.js.consumers.get(STREAM, {
      filter_subjects: batchSubject(this.host),
      ...(from > 1 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from } : {}),
    });
    const messages = await consumer.consume({ max_messages: PREFETCH });
    this.messages = messages;
    this.markStarted();
    if (this.stopped) {
      await messages.close();
      return false;
    }
    let resume = false;
    for await (const m of messages) {
      if (this.stopped) break;
      if (m.seq <= this.streamSeq) continue; // handled before a resume
      if (this.skipped(m) && this.resumedAfter !== this.streamSeq) {
        this.resumedAfter = this.streamSeq;
        resume = true;
        break;
      }
      this.handle(m);
      this.streamSeq = m.seq;
      this.counts.messages++;
      this.counts.bytes += m.data.length;
      // The subject's messages after this one when the broker delivered it (those fetched ahead included).
      this.backlog = Math.max(0, m.info.pending);
      // A backlog is all in the client's buffer: let the timers (leases, ticks) and sockets run.
      const wait = this.o.pacer.turn();
      if (wait !== undefined) await wait;
    }
    if (resume) this.o.log(`lifetrace: worker: host ${this.host}: messages skipped after ${this.streamSeq}; reading again from there`);
    await messages.close();
    return resume;
  }

  /** Whether `m` comes after messages of its run that never came. */
  private skipped(m: JsMsg): boolean {
    const s = this.session;
    if (s === undefined || s.ended) return false;
    const kind = m.headers?.get(KIND_HEADER);
    if (kind === 'batch') {
      const head = decodeBatchHead(m.data);
      return typeof head !== 'string' && head.seq > s.lastSeq + 1;
    }
    if (kind === 'end') {
      const end = parseAgentMessage(new TextDecoder().decode(m.data));
      return end.ok && end.value.type === 'end' && end.value.lastSeq > s.lastSeq;
    }
    return false;
  }

  /** Stops reading and answering (the host moved to another worker, or this one stops). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.query?.unsubscribe();
    await this.messages?.close();
    await this.loop;
    this.flush(`${this.seq}.stop`);
  }

  /** Settles a quiet live stream (HostSession.tick) and publishes what that raised. */
  tick(now: number): void {
    if (this.session === undefined) return;
    this.session.tick(now);
    if (this.dirtyFlags.size > 0 || this.dirtyLosses !== undefined || this.unstored) this.flush(`${this.seq}.t${++this.ticks}`);
  }

  /** Publishes the host's view and an activity sample on its stats subject. */
  sample(now: number): void {
    const s = this.session;
    if (s === undefined) return;
    const msg: StatsMessage = { host: s.view(), point: s.sample(now), runSeq: this.runSeq };
    this.nc.publish(statsSubject(this.host), JSON.stringify({ ...msg, lag_ms: this.lag() }));
  }

  /** The current run's view (undefined before its first hello). */
  view(): HostView | undefined {
    return this.session?.view();
  }

  /** The current run's flag occurrences by `rule|severity` (empty before its first hello). */
  flagCounts(): ReadonlyMap<string, number> {
    return this.session?.flagCounts() ?? new Map();
  }

  lag(): LagView {
    const sorted = [...this.lags].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
    return { batches: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? 0 };
  }

  private handle(m: JsMsg): void {
    const kind = m.headers?.get(KIND_HEADER);
    if (kind === 'hello') return this.hello(m);
    if (this.session === undefined) return this.skip('no hello before it (the stream was cut by its retention?)');
    if (kind === 'batch') {
      const head = decodeBatchHead(m.data);
      if (typeof head === 'string') return this.o.log(`lifetrace: worker: host ${this.host}: message ${m.seq}: ${head}`);
      this.session.ingest(head.seq, m.data.subarray(BATCH_HEAD));
      this.lags.push(Math.max(0, this.o.clock() - Math.max(m.info.timestampNanos / 1e6, this.since)));
      if (this.lags.length > 100_000) this.lags.splice(0, 50_000);
      this.seq = Math.max(this.seq, head.seq);
    } else if (kind === 'end') {
      const end = parseAgentMessage(new TextDecoder().decode(m.data));
      if (!end.ok || end.value.type !== 'end') return this.o.log(`lifetrace: worker: host ${this.host}: a bad end message`);
      this.session.end(end.value.lastSeq);
      this.flush('end');
      this.sample(this.o.clock());
      return;
    } else return this.skip(`a message of kind ${JSON.stringify(kind)}`);
    this.flush(String(this.seq));
  }

  /** A run's hello: a new session (a new run of the host starts over, as on `serve`). */
  private hello(m: JsMsg): void {
    const hello = parseAgentMessage(new TextDecoder().decode(m.data));
    if (!hello.ok || hello.value.type !== 'hello') return this.skip(`a refused hello (${hello.ok ? 'not a hello' : hello.error})`);
    if (hello.value.host !== this.host) return this.skip(`a hello of host ${JSON.stringify(hello.value.host)} on ${this.host}'s subject`);
    if (this.session?.run === hello.value.run) return; // the agent resent it
    this.flush(String(this.seq));
    this.skipping = undefined;
    this.seq = 0;
    this.runSeq = m.seq;
    this.ticks = 0;
    this.session = new HostSession(
      hello.value,
      this.o.analysis,
      {
        flag: (f) => this.dirtyFlags.set(f.id, f),
        losses: (_host, l) => {
          this.dirtyLosses = l;
        },
      },
      this.o.clock,
    );
    this.session.connect(this.o.clock());
  }

  private skip(why: string): void {
    if (this.skipping === why) return;
    this.skipping = why;
    this.o.log(`lifetrace: worker: host ${this.host}: skipping messages: ${why}`);
  }

  /** Publishes the flags and losses changed since the last flush; `after`: the batch (or tick) they follow. */
  private flush(after: string): void {
    const s = this.session;
    if (s === undefined) return;
    if (this.unstored && !this.nc.isClosed()) {
      // A result was not stored (the broker went away): the session's whole state, again.
      this.unstored = false;
      const flags = s.flags();
      for (const f of flags) this.dirtyFlags.set(f.id, f);
      this.dirtyLosses = s.losses();
      this.counts.republished += flags.length + 1; // and the loss list
    }
    const h = headers();
    h.set(SEQ_HEADER, String(this.seq));
    h.set(RUN_HEADER, s.run);
    h.set(RUN_SEQ_HEADER, String(this.runSeq));
    for (const f of this.dirtyFlags.values()) this.publish(flagsSubject(this.host), f, flagMessageId(f.id, after), h);
    this.dirtyFlags.clear();
    if (this.dirtyLosses !== undefined)
      this.publish(lossesSubject(this.host), this.dirtyLosses, lossesMessageId(this.host, s.run, after), h);
    this.dirtyLosses = undefined;
  }

  private publish(subject: string, value: unknown, msgID: string, h: ReturnType<typeof headers>): void {
    // Not awaited: the broker stores one connection's messages in order. A failure has the next
    // flush publish everything again (a reader keeps the latest by Lifetrace-Seq).
    this.counts.published++;
    this.js.publish(subject, JSON.stringify(value), { msgID, headers: h }).catch((e: unknown) => {
      if (this.stopped) return;
      this.counts.publishFailures++;
      if (!this.unstored)
        this.o.log(`lifetrace: worker: host ${this.host}: results not stored (${(e as Error).message}); publishing them again`);
      this.unstored = true;
    });
  }

  private answer(m: Msg): void {
    let req: QueryRequest;
    try {
      req = JSON.parse(m.string()) as QueryRequest;
    } catch {
      return void m.respond(JSON.stringify({ error: 'a query is JSON' }));
    }
    m.respond(JSON.stringify(this.reply(req)));
  }

  private reply(req: QueryRequest): QueryAnswer {
    const s = this.session;
    if (s === undefined) return { error: `host ${this.host} has no stream yet` };
    switch (req?.type) {
      case 'host':
        return s.view();
      case 'flags':
        return s.flags();
      case 'flag':
        return (
          (typeof req.id === 'string' ? s.detail(req.id) : undefined) ?? { error: `no flag ${JSON.stringify(req.id)} on ${this.host}` }
        );
      case 'objects':
        if (typeof req.addr !== 'string') return { error: 'objects needs addr' };
        return s.objects(req.addr, Array.isArray(req.kinds) ? OBJECT_KINDS.filter((k: ObjectKind) => req.kinds!.includes(k)) : undefined);
      case 'stats':
        return { points: s.points, losses: s.losses() };
      default:
        return { error: 'a query is {type: host | flags | flag (id) | objects (addr, kinds) | stats}' };
    }
  }
}
