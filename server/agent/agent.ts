/**
 * `lifetrace agent`: a line source (the probes, or a replayed capture) batched into sequence-
 * numbered frames, kept in the outbox until acknowledged, and streamed to the server over the link.
 */
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { encodeBatchHead, PROTOCOL_VERSION, type AgentHello } from '../shared/wire.js';
import { Link } from './link.js';
import { Outbox } from './outbox.js';
import type { LineSource } from './sources.js';

export interface AgentOptions {
  server: string;
  token: string;
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
}

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
  const link = new Link({ server: o.server, token: o.token, hello, outbox, log });

  let seq = 0;
  let lines: string[] = [];
  let bytes = 0;
  let total = 0;
  let dropped = 0;
  const flush = (): void => {
    if (lines.length === 0) return;
    if (dropped > 0) lines.unshift(`{"type": "lost_events", "data": {"events": ${dropped}}}`);
    const payload = Buffer.from(`${lines.join('\n')}\n`);
    const frame = Buffer.concat([encodeBatchHead(seq + 1, lines.length), payload]);
    if (outbox.push(seq + 1, frame)) {
      seq++;
      dropped = 0;
      link.notify();
    } else {
      // Even the spill file is full: what this batch held is lost, and the server will be told.
      dropped += lines.length - (lines[0]!.startsWith('{"type": "lost_events"') ? 1 : 0);
    }
    lines = [];
    bytes = 0;
  };
  const maxBytes = o.batchBytes ?? 256 << 10;
  const onLine = (line: string): void => {
    lines.push(line);
    bytes += line.length + 1;
    total++;
    if (bytes >= maxBytes) flush();
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
    if (link.ackedSeq >= seq) link.end(seq, reason);
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
