/**
 * The agent's connection to the server: say hello, resend what the server lacks, send new batches
 * as they come, follow the acknowledgements, and reconnect (with backoff) whenever the connection
 * drops. A refused token is final; anything else is retried.
 */
import WebSocket from 'ws';
import { INGEST_PATH, type AgentHello, type ServerToAgent } from '../shared/wire.js';
import type { Outbox } from './outbox.js';
import { LinkRefused, type Uplink } from './uplink.js';

export interface LinkOptions {
  server: string;
  token: string;
  hello: AgentHello;
  outbox: Outbox;
  log(s: string): void;
  /** Stop sending while the socket holds this much unsent (the outbox keeps the rest). */
  maxInFlightBytes?: number;
}

const MAX_BACKOFF_MS = 2000;

export class Link implements Uplink {
  private ws: WebSocket | undefined;
  private synced = false;
  private lastSent = 0;
  private acked = 0;
  private closing = false;
  private backoff = 100;
  private pumpTimer: NodeJS.Timeout | undefined;
  private readonly ackWaiters: { seq: number; resolve: () => void }[] = [];
  private failed: ((e: Error) => void) | undefined;
  /** Rejects when the server refuses the agent for good (wrong token, protocol). */
  readonly fatal: Promise<never>;
  connects = 0;
  resent = 0;

  constructor(private readonly o: LinkOptions) {
    this.fatal = new Promise<never>((_r, reject) => {
      this.failed = reject;
    });
    this.fatal.catch(() => {});
  }

  get ackedSeq(): number {
    return this.acked;
  }

  start(): void {
    this.connect();
    this.pumpTimer = setInterval(() => this.pump(), 20);
  }

  /** New batches are in the outbox. */
  notify(): void {
    this.pump();
  }

  /** Resolves once the server has acknowledged batch `seq`. */
  acknowledged(seq: number): Promise<void> {
    if (this.acked >= seq) return Promise.resolve();
    return new Promise((resolve) => this.ackWaiters.push({ seq, resolve }));
  }

  /** Tells the server the stream is over (after every batch is acknowledged). */
  async end(lastSeq: number, reason: string): Promise<void> {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'end', lastSeq, reason }));
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.pumpTimer);
    const ws = this.ws;
    if (ws === undefined || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((r) => {
      ws.once('close', () => r());
      ws.close(1000, 'agent done');
      setTimeout(() => {
        ws.terminate();
        r();
      }, 2000).unref();
    });
  }

  private connect(): void {
    if (this.closing) return;
    const url = new URL(INGEST_PATH, this.o.server.replace(/^http/, 'ws'));
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${this.o.token}` }, perMessageDeflate: false, maxPayload: 1 << 20 });
    this.ws = ws;
    ws.on('open', () => {
      this.connects++;
      this.backoff = 100;
      ws.send(JSON.stringify(this.o.hello));
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let m: ServerToAgent;
      try {
        m = JSON.parse(String(data)) as ServerToAgent;
      } catch {
        return;
      }
      switch (m.type) {
        case 'welcome':
          this.onAck(m.resumeAfter);
          if (this.connects > 1 && this.o.outbox.lastSeq > m.resumeAfter) {
            this.resent += this.o.outbox.lastSeq - m.resumeAfter;
            this.o.log(`lifetrace: reconnected; resending batches after ${m.resumeAfter}`);
          }
          this.lastSent = m.resumeAfter;
          this.synced = true;
          this.pump();
          return;
        case 'ack':
          this.onAck(m.seq);
          this.pump();
          return;
        case 'error':
          this.o.log(`lifetrace: the server refused: ${m.message}`);
          if (/protocol|already/.test(m.message)) this.failed?.(new LinkRefused(m.message));
          return;
      }
    });
    ws.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      if (status === 401 || status === 403) this.failed?.(new LinkRefused(`the server refused the agent (HTTP ${status}): check --token`));
      ws.terminate();
    });
    ws.on('error', (e) => {
      if (this.connects === 0 && this.backoff === 100) this.o.log(`lifetrace: cannot reach ${this.o.server}: ${e.message}; retrying`);
    });
    ws.on('close', () => {
      this.synced = false;
      if (this.ws === ws) this.ws = undefined;
      if (this.closing) return;
      const delay = this.backoff;
      this.backoff = Math.min(MAX_BACKOFF_MS, this.backoff * 2);
      setTimeout(() => this.connect(), delay).unref();
    });
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

  private pump(): void {
    const ws = this.ws;
    if (!this.synced || ws === undefined || ws.readyState !== WebSocket.OPEN) return;
    const max = this.o.maxInFlightBytes ?? 8 << 20;
    for (const b of this.o.outbox.after(this.lastSent)) {
      if (ws.bufferedAmount > max) return;
      ws.send(b.frame);
      this.lastSent = b.seq;
    }
  }
}
