/**
 * `lifetrace agent`: a line source (the probes, or a replayed capture) batched into sequence-
 * numbered frames, kept in the outbox until acknowledged, and streamed over the uplink: to a
 * lifetrace server's WebSocket, or to a NATS JetStream stream.
 */
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import type { NatsTarget } from '../fleet/connect.js';
import { BATCH_HEAD, encodeBatchHead, PROTOCOL_VERSION, type AgentHello } from '../shared/wire.js';
import { Link } from './link.js';
import { NatsLink } from './nats-link.js';
import { Outbox } from './outbox.js';
import type { Line, LineSource } from './sources.js';
import type { Uplink } from './uplink.js';

/** Where the batches go: a lifetrace server (its URL and agent token), or NATS JetStream. */
export type UplinkTarget = { server: string; token: string } | { nats: NatsTarget };

export type AgentOptions = UplinkTarget & {
  source: LineSource;
  /** Default: the capture header's host. */
  host?: string | undefined;
  log?(s: string): void;
  signal?: AbortSignal | undefined;
  /** A batch goes out when it holds this much, or after `batchMs`. */
  batchBytes?: number;
  batchMs?: number;
  maxMemoryBytes?: number;
  maxSpillBytes?: number;
  spillDir?: string;
};

export interface AgentResult {
  run: string;
  reason: string;
  batches: number;
  lines: number;
  /** Lines given up because the outbox was full (sent on as a lost_events record). */
  dropped: number;
  connects: number;
}

/** A replay waits while this much is unacknowledged, and goes on below half of it. */
const REPLAY_IN_FLIGHT = 16 << 20;

export async function runAgent(o: AgentOptions): Promise<AgentResult> {
  const log = o.log ?? (() => {});
  const run = randomUUID();
  const info = o.source.info;
  const host = o.host ?? String(info.header.host);
  const hello: AgentHello = {
    type: 'hello',
    protocol: PROTOCOL_VERSION,
    run,
    host,
    mode: info.mode,
    header: { ...info.header, host },
    rules: info.rules,
    ...(info.label !== undefined ? { label: info.label } : {}),
  };
  const outbox = new Outbox(
    {
      maxMemoryBytes: o.maxMemoryBytes ?? 64 << 20,
      maxSpillBytes: o.maxSpillBytes ?? 2 ** 30,
      spillDir: o.spillDir ?? tmpdir(),
    },
    run,
  );
  const link: Uplink =
    'nats' in o ? new NatsLink({ target: o.nats, hello, outbox, log }) : new Link({ server: o.server, token: o.token, hello, outbox, log });

  let seq = 0;
  let total = 0;
  let dropped = 0;
  const maxBytes = o.batchBytes ?? 256 << 10;
  const batch = new BatchBuilder(maxBytes);
  const flush = (): void => {
    if (batch.lines === 0) return;
    const frame = batch.take(seq + 1);
    if (outbox.push(seq + 1, frame.frame)) {
      seq++;
      dropped = 0;
      link.notify();
    } else {
      // Even the spill file is full: what this batch held is lost, and the server will be told.
      dropped += frame.lines - (frame.lostLine ? 1 : 0);
    }
  };
  const onLine = (line: Line): void => {
    // A loss goes first in the batch after it, where the server counts it.
    if (batch.lines === 0 && dropped > 0) batch.addLost(dropped);
    batch.add(line);
    total++;
    if (batch.payloadBytes >= maxBytes) flush();
  };
  const timer = setInterval(flush, o.batchMs ?? 50);
  const wait = (): Promise<void> | undefined => {
    if (outbox.unackedBytes < REPLAY_IN_FLIGHT) return undefined;
    flush();
    return link.acknowledged(link.ackedSeq + 1).then(() => wait());
  };

  const stop = (): void => o.source.stop();
  o.signal?.addEventListener('abort', stop, { once: true });
  link.start();
  let reason: string;
  try {
    reason = await Promise.race([o.source.run(onLine, info.mode === 'replay' ? wait : () => undefined), link.fatal]);
    clearInterval(timer);
    flush();
    // Everything sent must be acknowledged before the stream is declared over.
    const acked = link.acknowledged(seq);
    await Promise.race([acked, link.fatal, ...(o.signal ? [aborted(o.signal).then(() => Promise.race([acked, delay(5000)]))] : [])]);
    if (link.ackedSeq >= seq) await link.end(seq, reason);
    else reason = `${reason}; stopped before the server acknowledged batch ${seq} (it has ${link.ackedSeq})`;
  } finally {
    clearInterval(timer);
    o.source.stop();
    o.signal?.removeEventListener('abort', stop);
    await link.close();
    outbox.close();
  }
  return { run, reason, batches: seq, lines: total, dropped, connects: link.connects };
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());
const aborted = (s: AbortSignal): Promise<void> =>
  s.aborted ? Promise.resolve() : new Promise((r) => s.addEventListener('abort', () => r(), { once: true }));

/**
 * The batch being filled: the lines' bytes written once into a buffer that has room for the batch
 * head in front, and copied out once as the frame. A line read as bytes is copied as it is, never
 * decoded and encoded again (docs/live.md: lines are never re-encoded).
 */
class BatchBuilder {
  private buf: Buffer;
  private end = BATCH_HEAD;
  lines = 0;
  private lostLine = false;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(BATCH_HEAD + size + (64 << 10));
  }

  get payloadBytes(): number {
    return this.end - BATCH_HEAD;
  }

  add(line: Line): void {
    if (typeof line === 'string') {
      this.room(Buffer.byteLength(line) + 1);
      this.end += this.buf.write(line, this.end);
    } else {
      this.room(line.length + 1);
      this.buf.set(line, this.end);
      this.end += line.length;
    }
    this.buf[this.end++] = 10;
    this.lines++;
  }

  /** The record that tells the server `events` lines were lost to a full outbox. */
  addLost(events: number): void {
    this.add(`{"type": "lost_events", "data": {"events": ${events}}}`);
    this.lostLine = true;
  }

  /** The frame of batch `seq` (head and lines), and the builder emptied. */
  take(seq: number): { frame: Buffer; lines: number; lostLine: boolean } {
    this.buf.set(encodeBatchHead(seq, this.lines), 0);
    const r = { frame: Buffer.from(this.buf.subarray(0, this.end)), lines: this.lines, lostLine: this.lostLine };
    this.end = BATCH_HEAD;
    this.lines = 0;
    this.lostLine = false;
    return r;
  }

  private room(n: number): void {
    if (this.end + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.end + n));
    this.buf.copy(bigger, 0, 0, this.end);
    this.buf = bigger;
  }
}
