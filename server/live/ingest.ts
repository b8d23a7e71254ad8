/**
 * The agent socket. Text frames are JSON control messages (hello, end); binary frames are batches
 * of raw capture lines (wire.ts). Every batch is analyzed in order and acknowledged; anything
 * malformed is refused with an error message, counted, and the socket closed.
 */
import type { WebSocket } from 'ws';
import { decodeBatchHead, BATCH_HEAD, type ServerToAgent } from '../shared/wire.js';
import { MAX_CONTROL_FRAME, parseAgentMessage } from './hello.js';
import type { LiveSession } from './host-session.js';
import type { Hub } from './hub.js';
import { boundedSender } from './send-queue.js';

/** Most bytes an agent may send between its hello and the welcome (two of its largest frames). */
const MAX_EARLY_BYTES = 64 << 20;

/** Most bytes queued to one agent (acks of ~30 bytes: an agent that reads them never nears it) before it is dropped. */
export const AGENT_QUEUE_BYTES = 1 << 20;

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

/** Each session's agent socket, while it has one. */
const agentSockets = new WeakMap<LiveSession, WebSocket>();

/**
 * The same run of a host says hello again while its old socket is paused (its analysis was behind):
 * a paused socket cannot see its peer go, so that peer is taken to be this one, reconnected.
 */
function supersedePaused(hub: Hub, host: string, run: string): void {
  const old = hub.sessions.get(host);
  const prior = old === undefined ? undefined : agentSockets.get(old);
  if (old === undefined || prior === undefined || !old.connected || old.run !== run || !prior.isPaused) return;
  agentSockets.delete(old);
  prior.terminate();
  hub.sessions.agentGone(old);
}

export function handleAgent(ws: WebSocket, hub: Hub, bytesPerSecond = Infinity): void {
  let session: LiveSession | undefined;
  let welcomed = false;
  /** The agent said its stream ended (its analysis may take a moment to end it). */
  let endSaid = false;
  // Reading stops while anything holds the socket (the rate limit, an analysis worker behind).
  let holds = 0;
  const hold = (until: Promise<void>): void => {
    if (holds++ === 0) ws.pause();
    void until.then(() => {
      if (--holds === 0) ws.resume();
    });
  };
  const early: [Buffer, boolean][] = [];
  let earlyBytes = 0;
  const throttle = Number.isFinite(bytesPerSecond) ? new Throttle(bytesPerSecond) : undefined;
  const out = boundedSender(ws, AGENT_QUEUE_BYTES, () => hub.reject('agent-not-reading'));
  const send = (m: ServerToAgent): void => void out.send(JSON.stringify(m));
  const refuse = (reason: string, message: string): void => {
    hub.reject(reason);
    send({ type: 'error', message });
    ws.close(1008, reason);
  };

  // Its analysis stopped (its worker thread died): the host shows why; the agent is told and let go.
  const refuseFailed = (s: LiveSession): void => {
    if (ws.readyState === ws.OPEN) refuse('agent-host-failed', `the analysis of host ${s.host} stopped: ${s.failure ?? ''}`);
  };

  const onMessage = (data: WebSocket.RawData, isBinary: boolean): void => {
    if (out.dropped) return;
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    // Said hello, not welcomed yet (the server reads the run's journal back): kept, bounded, for after.
    if (session !== undefined && !welcomed) {
      earlyBytes += buf.length;
      if (earlyBytes > MAX_EARLY_BYTES)
        return refuse('agent-oversized-message', `wait for the welcome: at most ${MAX_EARLY_BYTES} bytes before it`);
      early.push([buf, isBinary]);
      return;
    }
    if (!isBinary) {
      if (buf.length > MAX_CONTROL_FRAME) return refuse('agent-oversized-message', `a text frame holds ${MAX_CONTROL_FRAME} bytes at most`);
      const parsed = parseAgentMessage(buf.toString('utf8'));
      if (!parsed.ok) return refuse('agent-bad-message', parsed.error);
      const m = parsed.value;
      if (m.type === 'hello') {
        if (session !== undefined) return refuse('agent-bad-message', 'hello was already said');
        supersedePaused(hub, m.host, m.run);
        const attached = hub.sessions.attachAgent(m);
        if (!attached.ok) return refuse('agent-conflict', attached.error);
        const { session: s, ready } = attached.value;
        session = s;
        agentSockets.set(s, ws);
        const welcome = (): void => {
          welcomed = true;
          send({ type: 'welcome', host: s.host, resumeAfter: s.lastSeq });
          // What the agent sent on meanwhile, in its order (the protocol lets it send before the welcome).
          for (const [d, bin] of early.splice(0)) if (ws.readyState === ws.OPEN) handle(d, bin);
        };
        if (ready === undefined) return welcome();
        void ready.then(() => {
          if (ws.readyState === ws.OPEN) welcome();
        });
        return;
      }
      if (session === undefined) return refuse('agent-bad-message', 'say hello first');
      // An end after batches this server lost (they were acknowledged, then its journal was damaged)
      // ends with that loss recorded; an end before batches it has is a confused agent.
      if (m.lastSeq < session.lastSeq)
        return refuse('agent-bad-message', `end after batch ${m.lastSeq}, but batch ${session.lastSeq} was received`);
      endSaid = true;
      session.end(m.lastSeq);
      return;
    }
    if (session === undefined) return refuse('agent-bad-message', 'say hello first');
    if (session.ended || endSaid) return refuse('agent-bad-message', 'the stream has ended');
    if (session.failure !== undefined) return refuseFailed(session);
    const head = decodeBatchHead(buf);
    if (typeof head === 'string') return refuse('agent-bad-batch', head);
    const wait = throttle?.take(buf.length) ?? 0;
    if (wait > 0) {
      hub.reject('agent-throttled');
      hold(new Promise((r) => setTimeout(r, wait)));
    }
    const seq = head.seq; // read before the batch's bytes leave for a worker thread
    const r = session.ingest(seq, buf.subarray(BATCH_HEAD), buf.subarray(0, BATCH_HEAD));
    const ack: ServerToAgent = { type: 'ack', seq: r.ok ? seq : Math.min(seq, session.lastSeq) };
    // Acknowledged once analyzed (and journaled), as in one thread: a worker thread answers later,
    // and acks stay in order.
    const analyzed = session.analyzed();
    if (analyzed === undefined) send(ack);
    else {
      const s = session;
      void analyzed.then(() => (s.failure === undefined ? send(ack) : refuseFailed(s)));
    }
    // Its analysis is behind (a worker thread's backlog is full): read no more until it has room.
    const behind = session.congestion();
    if (behind !== undefined) hold(behind);
  };
  // Whatever a frame does to the server, it ends this agent's connection, never the process.
  function handle(data: WebSocket.RawData, isBinary: boolean): void {
    try {
      onMessage(data, isBinary);
    } catch (e) {
      process.stderr.write(`lifetrace: agent ${session?.host ?? '(no hello yet)'}: ${(e as Error).stack ?? String(e)}\n`);
      hub.reject('agent-internal-error');
      send({ type: 'error', message: 'the server failed on this message' });
      ws.close(1011, 'internal error');
    }
  }
  ws.on('message', handle);
  ws.on('close', () => {
    if (session === undefined || agentSockets.get(session) !== ws) return; // superseded: the session has another socket
    agentSockets.delete(session);
    hub.sessions.agentGone(session);
  });
  ws.on('error', (e: Error & { code?: string }) => {
    hub.reject(e.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'agent-oversized-frame' : 'agent-socket-error');
    ws.terminate();
  });
}
