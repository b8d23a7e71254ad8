/**
 * The agent's link to NATS JetStream (`agent --nats`): the same outbox, the same batches, published
 * to the host's subject of the fleet's stream (server/fleet/subjects.ts) instead of sent to one
 * server. The broker's publish acknowledgement is the server's `ack`; the last message of this run
 * on the host's subject is the server's `welcome.resumeAfter`, read again after every failure.
 *
 * One batch is in flight at a time: a batch is published only once the one before it is stored, so
 * the host's subject holds every run's batches in sequence, whatever the broker lost in a crash
 * (pipelined publishes could land out of order around a reconnect). A batch is 256 KB: the round
 * trip costs little.
 */
import {
  jetstream,
  jetstreamManager,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { connect, errors, headers, type NatsConnection } from '@nats-io/transport-node';
import { connectionOptions, type NatsTarget } from '../fleet/connect.js';
import { batchSubject, KIND_HEADER, messageId, parseMessageId, STREAM, STREAM_CONFIG, type MessageKind } from '../fleet/subjects.js';
import type { AgentHello } from '../shared/wire.js';
import type { Outbox } from './outbox.js';
import { LinkRefused, type Uplink } from './uplink.js';

export interface NatsLinkOptions {
  target: NatsTarget;
  hello: AgentHello;
  outbox: Outbox;
  log(s: string): void;
}

const MAX_BACKOFF_MS = 2000;
/** How long a publish may take before the link resyncs (a 256 KB batch on a busy broker). */
const PUBLISH_MS = 10_000;
/** How long a stream request may take (a broker just restarted may drop the first ones). */
const REQUEST_MS = 2_000;

export class NatsLink implements Uplink {
  private nc: NatsConnection | undefined;
  private acked = 0;
  private closing = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> = Promise.resolve();
  private readonly ackWaiters: { seq: number; resolve: () => void }[] = [];
  private failed: ((e: Error) => void) | undefined;
  private readonly subject: string;
  /** Rejects when the connection drops: a publish in flight is not waited for (a resync follows). */
  private dropped = settleable();
  /** Between a disconnect and the client's reconnect nothing is tried: it would only time out. */
  private online = false;
  /** The largest message the broker takes (its max_payload, told on connect). */
  private maxPayload = Infinity;
  readonly fatal: Promise<never>;
  connects = 0;
  /** Batches published again after a failure (the broker drops those it already had). */
  resent = 0;

  constructor(private readonly o: NatsLinkOptions) {
    this.subject = batchSubject(o.hello.host);
    this.fatal = new Promise<never>((_r, reject) => {
      this.failed = reject;
    });
    this.fatal.catch(() => {});
  }

  get ackedSeq(): number {
    return this.acked;
  }

  start(): void {
    this.loop = this.run();
  }

  notify(): void {
    this.wake?.();
  }

  acknowledged(seq: number): Promise<void> {
    if (this.acked >= seq) return Promise.resolve();
    return new Promise((resolve) => this.ackWaiters.push({ seq, resolve }));
  }

  /** Publishes the run's end on the host's subject, after its last batch. */
  async end(lastSeq: number, reason: string): Promise<void> {
    const nc = this.nc;
    if (nc === undefined || nc.isClosed()) return;
    try {
      await this.publish(jetstream(nc), 'end', messageId(this.o.hello.run, 'end'), JSON.stringify({ type: 'end', lastSeq, reason }));
    } catch (e) {
      this.o.log(`lifetrace: the end of the stream did not reach NATS: ${(e as Error).message}`);
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    this.wake?.();
    await this.loop;
    const nc = this.nc;
    this.nc = undefined;
    if (nc !== undefined && !nc.isClosed()) await nc.close().catch(() => {});
  }

  /** Connects, syncs with the stream and publishes, again and again until closed or refused. */
  private async run(): Promise<void> {
    let backoff = 100;
    let lastProblem = '';
    while (!this.closing) {
      try {
        const nc = this.nc ?? (await this.connect());
        if (!this.online) {
          await this.sleep(100);
          continue;
        }
        const js = jetstream(nc, { timeout: REQUEST_MS });
        await this.sync(nc, await jetstreamManager(nc, { timeout: REQUEST_MS }), js);
        backoff = 100;
        lastProblem = '';
        await this.pump(js);
      } catch (e) {
        const refusal = refusalOf(e);
        if (refusal !== undefined) {
          this.failed?.(new LinkRefused(refusal));
          return;
        }
        if (this.closing) return;
        const problem = (e as Error).message;
        if (problem !== lastProblem) this.o.log(`lifetrace: NATS ${this.o.target.url}: ${problem}; retrying`);
        lastProblem = problem;
        await this.sleep(backoff);
        backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
      }
    }
  }

  private async connect(): Promise<NatsConnection> {
    const nc = await connect(connectionOptions(this.o.target, `lifetrace agent ${this.o.hello.host}`, 'agent'));
    this.nc = nc;
    this.dropped = settleable();
    this.online = true;
    this.connects++;
    void nc.closed().then(() => {
      if (this.nc === nc) this.nc = undefined;
    });
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'reconnect') {
          this.dropped = settleable();
          this.online = true;
          this.connects++;
          this.o.log(`lifetrace: reconnected to NATS ${s.server}`);
        } else if (s.type === 'disconnect') {
          this.online = false;
          this.dropped.reject(new Error('lost the connection'));
          this.o.log(`lifetrace: lost NATS ${s.server}; batches wait in the outbox`);
        } else if (s.type === 'error' && refusalOf(s.error) !== undefined) {
          // Credentials revoked while reconnecting: the client would try forever.
          this.failed?.(new LinkRefused(refusalOf(s.error)!));
          void nc.close();
        }
      }
    })();
    return nc;
  }

  /**
   * The stream exists (created if missing), and the host's subject holds this run's hello; what
   * the broker already has of this run is acknowledged, so the pump starts right after it.
   */
  private async sync(nc: NatsConnection, jsm: JetStreamManager, js: JetStreamClient): Promise<void> {
    try {
      const info = await jsm.streams.info(STREAM);
      // A stream made without allow_direct (by an older lifetrace) would never answer the read below.
      if (info.config.allow_direct !== true)
        throw new LinkRefused(
          `the NATS stream ${STREAM} does not allow direct get, which an agent resumes with: nats stream edit ${STREAM} --allow-direct`,
        );
    } catch (e) {
      if (!(e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound)) throw e;
      await jsm.streams.add(STREAM_CONFIG);
      this.o.log(`lifetrace: created the NATS stream ${STREAM} (file storage)`);
    }
    // Its own subject's last message, by direct get ($JS.API.DIRECT.GET.LIFETRACE.<subject>: the only
    // read of the stream the agent's user may make).
    const last = await jsm.direct.getMessage(STREAM, { last_by_subj: this.subject });
    const id = parseMessageId(last?.header.get('Nats-Msg-Id'));
    const ours = id !== undefined && id.run === this.o.hello.run;
    if (!ours) await this.publish(js, 'hello', messageId(this.o.hello.run, 'hello'), JSON.stringify(this.o.hello));
    const stored = ours && typeof id.what === 'number' ? id.what : 0;
    if (stored > this.acked) this.onAck(stored);
    if (this.connects > 1 && this.o.outbox.lastSeq > this.acked) {
      this.o.log(`lifetrace: resending batches after ${this.acked} to NATS`);
    }
    if (nc.info !== undefined) this.maxPayload = nc.info.max_payload;
  }

  /** Publishes the outbox's batches one after another until closed; throws on any failure. */
  private async pump(js: JetStreamClient): Promise<void> {
    while (!this.closing) {
      const next = this.o.outbox.after(this.acked).next();
      if (next.done) {
        await this.sleep(100);
        continue;
      }
      const { seq, frame } = next.value;
      if (frame.length > this.maxPayload)
        throw new LinkRefused(
          `batch ${seq} is ${frame.length} bytes, more than the NATS server's max_payload (${this.maxPayload}): raise it (docs/fleet.md)`,
        );
      const ack = await Promise.race([this.publish(js, 'batch', messageId(this.o.hello.run, seq), frame), this.dropped.promise]);
      if (ack.duplicate) this.resent++;
      this.onAck(seq);
    }
  }

  private publish(js: JetStreamClient, kind: MessageKind, msgID: string, data: Uint8Array | string) {
    const h = headers();
    h.set(KIND_HEADER, kind);
    return js.publish(this.subject, data, { msgID, headers: h, timeout: PUBLISH_MS });
  }

  private onAck(seq: number): void {
    if (seq <= this.acked) return;
    this.acked = seq;
    this.o.outbox.ack(seq);
    for (let i = this.ackWaiters.length - 1; i >= 0; i--) {
      const w = this.ackWaiters[i]!;
      if (w.seq <= seq) {
        this.ackWaiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  /** Waits `ms`, or less when new batches come or the link closes. */
  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(r, ms);
      this.wake = () => {
        clearTimeout(t);
        r();
      };
    });
  }
}

/** A promise that can be rejected from outside (and is never reported unhandled). */
function settleable(): { promise: Promise<never>; reject(e: Error): void } {
  let reject!: (e: Error) => void;
  const promise = new Promise<never>((_r, rej) => {
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, reject };
}

/** Why the broker refused the agent for good (retrying cannot help), or undefined. */
function refusalOf(e: unknown): string | undefined {
  if (e instanceof LinkRefused) return e.message;
  if (e instanceof errors.AuthorizationError || e instanceof errors.UserAuthenticationExpiredError)
    return (
      `the NATS server refused the agent's credentials (${e.message}): ` +
      'check --nats-user/--nats-pass, --nats-token, --nats-nkey or --nats-creds'
    );
  if (e instanceof errors.PermissionViolationError)
    return (
      `the NATS server does not let these credentials do that (${e.message}): ` +
      'the agent publishes to lifetrace.batches.> and asks the JetStream API about the LIFETRACE stream (docs/fleet.md)'
    );
  // Node's certificate checks: a certificate that does not verify will not verify on the next try either.
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && /^(ERR_TLS_CERT|UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO|CERT_)/.test(code))
    return (
      `the NATS server's certificate was not accepted (${(e as Error).message}): ` +
      'give --nats-ca the authority that signed it, and dial the name it holds (docs/fleet.md)'
    );
  if (e instanceof errors.ConnectionError && /does not support 'tls'|tls.*not available/.test(e.message))
    return `the NATS server does not offer TLS (${e.message}), which tls:// and --nats-ca ask for`;
  // The client's JetStreamNotEnabled is not exported: it is known by its name.
  if (e instanceof Error && e.name === 'JetStreamNotEnabled')
    return `JetStream is not enabled on this NATS server or account (${e.message}): start nats-server with -js (docs/fleet.md)`;
  return undefined;
}
