/**
 * The agent socket. Text frames are JSON control messages (hello, end); binary frames are batches
 * of raw capture lines (wire.ts). Every batch is analyzed in order and acknowledged; anything
 * malformed is refused with an error message, counted, and the socket closed.
 */
import type { WebSocket } from 'ws';
import { decodeBatchHead, BATCH_HEAD, PROTOCOL_VERSION, type AgentHello, type AgentMessage, type ServerToAgent } from '../protocol/wire.js';
import type { HostSession } from './host-session.js';
import type { Hub } from './hub.js';
import { nameProblem } from './names.js';

const RULE_STATES = ['active', 'degraded', 'off'];

/** Validates an untrusted control message; returns it typed, or why it is refused. */
export function parseAgentMessage(text: string): AgentMessage | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return 'a text frame must be JSON';
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'a message must be a JSON object';
  const m = v as Record<string, unknown>;
  switch (m.type) {
    case 'hello': {
      // JSON.stringify, not String(): a parsed object may carry a "toString" that is not a function.
      if (m.protocol !== PROTOCOL_VERSION) return `protocol ${JSON.stringify(m.protocol)?.slice(0, 40)} is not ${PROTOCOL_VERSION}: upgrade the agent or the server`;
      const badName = nameProblem('run', m.run) ?? nameProblem('host', m.host); // names.ts: they become journal paths
      if (badName !== undefined) return `hello: ${badName}`;
      if (m.mode !== 'live' && m.mode !== 'replay') return 'hello.mode must be live or replay';
      if (m.label !== undefined && (typeof m.label !== 'string' || m.label.length > 512)) return 'hello.label must be a short string';
      if (typeof m.header !== 'object' || m.header === null || Array.isArray(m.header)) return 'hello.header must be the capture header object';
      if (!Array.isArray(m.rules) || m.rules.length > 1000) return 'hello.rules must be a list';
      for (const r of m.rules as unknown[]) {
        const rr = r as Record<string, unknown>;
        if (typeof r !== 'object' || r === null || typeof rr.id !== 'string' || !RULE_STATES.includes(rr.status as string)) return 'hello.rules entries are {id, status}';
      }
      return m as unknown as AgentHello;
    }
    case 'end':
      if (typeof m.lastSeq !== 'number' || typeof m.reason !== 'string') return 'end needs lastSeq and reason';
      return { type: 'end', lastSeq: m.lastSeq, reason: m.reason.slice(0, 512) };
    default:
      return `unknown message type ${JSON.stringify(m.type)}`;
  }
}

/**
 * Each agent may send at most `bytesPerSecond` (a token bucket holding one second's worth): past
 * it, the server stops reading its socket for as long as the excess takes to earn back. Nothing is
 * dropped (the agent's outbox holds it); one agent cannot starve the others.
 */
class Throttle {
  private tokens: number;
  private last = performance.now();

  constructor(private readonly bytesPerSecond: number) {
    this.tokens = bytesPerSecond;
  }

  /** Takes `bytes`; returns how long (ms) to stop reading, or 0. */
  take(bytes: number): number {
    const now = performance.now();
    this.tokens = Math.min(this.bytesPerSecond, this.tokens + ((now - this.last) / 1000) * this.bytesPerSecond);
    this.last = now;
    this.tokens -= bytes;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.bytesPerSecond) * 1000;
  }
}

export function handleAgent(ws: WebSocket, hub: Hub, bytesPerSecond = Infinity): void {
  let session: HostSession | undefined;
  const throttle = Number.isFinite(bytesPerSecond) ? new Throttle(bytesPerSecond) : undefined;
  const send = (m: ServerToAgent): void => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m));
  };
  const refuse = (reason: string, message: string): void => {
    hub.reject(reason);
    send({ type: 'error', message });
    ws.close(1008, reason);
  };

  ws.on('message', (data, isBinary) => {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    if (!isBinary) {
      const m = parseAgentMessage(buf.toString('utf8'));
      if (typeof m === 'string') return refuse('agent-bad-message', m);
      if (m.type === 'hello') {
        if (session !== undefined) return refuse('agent-bad-message', 'hello was already said');
        const s = hub.attach(m);
        if (typeof s === 'string') return refuse('agent-conflict', s);
        session = s;
        return send({ type: 'welcome', host: s.host, resumeAfter: s.lastSeq });
      }
      if (session === undefined) return refuse('agent-bad-message', 'say hello first');
      if (m.lastSeq !== session.lastSeq) return refuse('agent-bad-message', `end after batch ${m.lastSeq}, but batch ${session.lastSeq} is the last received`);
      session.end();
      return;
    }
    if (session === undefined) return refuse('agent-bad-message', 'say hello first');
    if (session.ended) return refuse('agent-bad-message', 'the stream has ended');
    const head = decodeBatchHead(buf);
    if (typeof head === 'string') return refuse('agent-bad-batch', head);
    const wait = throttle?.take(buf.length) ?? 0;
    if (wait > 0) {
      hub.reject('agent-throttled');
      ws.pause();
      setTimeout(() => ws.resume(), wait);
    }
    const r = session.ingest(head.seq, buf.subarray(BATCH_HEAD), buf.subarray(0, BATCH_HEAD));
    send({ type: 'ack', seq: r.ok ? head.seq : Math.min(head.seq, session.lastSeq) });
  });
  ws.on('close', () => {
    if (session !== undefined) session.connected = false;
  });
  ws.on('error', (e: Error & { code?: string }) => {
    hub.reject(e.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'agent-oversized-frame' : 'agent-socket-error');
    ws.terminate();
  });
}
