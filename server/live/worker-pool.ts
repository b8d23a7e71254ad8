/**
 * The analysis worker threads of `lifetrace serve --workers N`: each runs session-worker.ts, the
 * HostSessions of the hosts assigned to it. A host goes to the worker with the fewest hosts and
 * stays there for its session's lifetime. The pool counts what each worker has been sent and not yet
 * done (its backlog, in bytes and age): past HIGH_WATER_BYTES its hosts' sources stop reading until
 * it is back under LOW_WATER_BYTES, so a worker behind never grows an unbounded queue. A worker that
 * dies (an uncaught error, out of memory) takes only its own hosts with it: they are failed with the
 * reason, and a fresh worker takes its place for new hosts.
 */
import { Worker } from 'node:worker_threads';
import type { Answer, FromWorker, Query, ToWorker } from './worker-protocol.js';

/** A worker's backlog past which its hosts' sources stop reading (a few seconds of a busy host at most). */
export const HIGH_WATER_BYTES = 16 << 20;
/** ...and under which they read again. */
export const LOW_WATER_BYTES = 4 << 20;
/** Most old-generation heap of one worker by default (MB): a host past it fails its worker, not the server. */
export const WORKER_HEAP_MB = 4096;

/** What a worker's sessions are told by the pool (remote-session.ts implements it). */
export interface WorkerClient {
  readonly sid: number;
  /** A message of this session's analysis. */
  receive(m: Extract<FromWorker, { sid: number }>): void;
  /** Its analysis stopped: its worker died (or its own message broke it). */
  fail(reason: string): void;
}

/** One worker as /metrics shows it. */
export interface WorkerStats {
  index: number;
  hosts: number;
  /** Batch bytes sent to it and not yet analyzed. */
  backlogBytes: number;
  /** Age of the oldest batch not yet analyzed, s (0 when it has none). */
  lagSeconds: number;
  /** Times this slot's worker died and was replaced. */
  restarts: number;
}

interface Sent {
  bytes: number;
  at: number;
}

/** A worker thread of the pool: its sessions, its backlog, its open requests. */
export class PoolWorker {
  private readonly worker: Worker;
  readonly clients = new Map<number, WorkerClient>();
  private backlog = 0;
  private readonly sent: Sent[] = [];
  private sentHead = 0;
  private readonly requests = new Map<number, { resolve(a: Answer): void; reject(e: Error): void }>();
  private nextRequest = 1;
  private drained: { promise: Promise<void>; resolve(): void } | undefined;
  private dead: string | undefined;

  constructor(
    readonly index: number,
    heapMb: number,
    private readonly died: (w: PoolWorker, reason: string) => void,
  ) {
    this.worker = new Worker(new URL('./session-worker.js', import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb: heapMb },
    });
    this.worker.on('message', (m: FromWorker) => this.onMessage(m));
    this.worker.on('error', (e) => this.die(`its analysis thread failed: ${e.message}`));
    this.worker.on('exit', (code) => this.die(`its analysis thread exited (code ${code})`));
  }

  get alive(): boolean {
    return this.dead === undefined;
  }

  /** Registers a session with this worker (its `open` message follows). */
  add(c: WorkerClient): void {
    this.clients.set(c.sid, c);
  }

  /** A session is let go of: its worker forgets it. */
  remove(sid: number): void {
    if (this.clients.delete(sid)) this.post({ type: 'drop', sid });
  }

  post(m: ToWorker, transfer: ArrayBuffer[] = []): void {
    if (this.dead !== undefined) return;
    if (m.type === 'ingest' && m.length > 0) {
      this.backlog += m.length;
      this.sent.push({ bytes: m.length, at: performance.now() });
    }
    this.worker.postMessage(m, transfer);
  }

  request(query: Query): Promise<Answer> {
    if (this.dead !== undefined) return Promise.reject(new Error(this.dead));
    const id = this.nextRequest++;
    return new Promise<Answer>((resolve, reject) => {
      this.requests.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'request', id, query } satisfies ToWorker);
    });
  }

  /** undefined while the backlog is under the high-water mark; else a promise of it being low again. */
  congestion(): Promise<void> | undefined {
    if (this.drained !== undefined) return this.drained.promise;
    if (this.backlog <= HIGH_WATER_BYTES || this.dead !== undefined) return undefined;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.drained = { promise, resolve };
    return promise;
  }

  stats(): WorkerStats {
    const oldest = this.sent[this.sentHead];
    return {
      index: this.index,
      hosts: this.clients.size,
      backlogBytes: this.backlog,
      lagSeconds: oldest === undefined ? 0 : (performance.now() - oldest.at) / 1000,
      restarts: 0,
    };
  }

  async terminate(): Promise<void> {
    this.dead ??= 'the server stopped';
    await this.worker.terminate();
  }

  private onMessage(m: FromWorker): void {
    switch (m.type) {
      case 'reply':
      case 'failed': {
        const r = this.requests.get(m.id);
        this.requests.delete(m.id);
        if (m.type === 'reply') r?.resolve(m.answer);
        else r?.reject(new Error(m.error));
        return;
      }
      case 'report':
        if (m.done > 0) this.done(m.done);
        break;
      case 'broken':
        this.clients.get(m.sid)?.fail(`its analysis failed: ${m.error}`);
        this.clients.delete(m.sid);
        return;
    }
    this.clients.get(m.sid)?.receive(m);
  }

  /** The worker analyzed `bytes` more of what it was sent (in the order sent). */
  private done(bytes: number): void {
    this.backlog -= bytes;
    let left = bytes;
    while (left > 0 && this.sentHead < this.sent.length) {
      const s = this.sent[this.sentHead]!;
      const take = Math.min(left, s.bytes);
      s.bytes -= take;
      left -= take;
      if (s.bytes === 0) this.sentHead++;
    }
    if (this.sentHead > 1024 && this.sentHead * 2 > this.sent.length) {
      this.sent.splice(0, this.sentHead);
      this.sentHead = 0;
    }
    if (this.drained !== undefined && this.backlog <= LOW_WATER_BYTES) this.release();
  }

  private release(): void {
    const d = this.drained;
    this.drained = undefined;
    d?.resolve();
  }

  private die(reason: string): void {
    if (this.dead !== undefined) return;
    this.dead = reason;
    for (const r of this.requests.values()) r.reject(new Error(reason));
    this.requests.clear();
    for (const c of this.clients.values()) c.fail(reason);
    this.clients.clear();
    this.backlog = 0;
    this.sent.length = 0;
    this.sentHead = 0;
    this.release(); // its hosts' sources read again (and are refused: their analysis failed)
    this.died(this, reason);
  }
}

export class WorkerPool {
  /** Started on first use: a server no agent ever reaches runs no thread. */
  private readonly slots: (PoolWorker | undefined)[];
  private readonly restarts: number[];
  private closing = false;

  constructor(
    readonly size: number,
    private readonly heapMb = WORKER_HEAP_MB,
  ) {
    this.slots = new Array<PoolWorker | undefined>(size).fill(undefined);
    this.restarts = new Array<number>(size).fill(0);
  }

  /** The worker a new session goes to: the one with the fewest hosts (the lowest index on a tie). */
  assign(): PoolWorker {
    let best = 0;
    for (let i = 1; i < this.size; i++) if (hostsOf(this.slots[i]) < hostsOf(this.slots[best])) best = i;
    return (this.slots[best] ??= this.spawn(best));
  }

  /** The workers started (index order), e.g. to end one in a test of containment. */
  get workers(): readonly PoolWorker[] {
    return this.slots.filter((w) => w !== undefined);
  }

  stats(): WorkerStats[] {
    return this.workers.map((w) => ({ ...w.stats(), restarts: this.restarts[w.index]! }));
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private spawn(index: number): PoolWorker {
    return new PoolWorker(index, this.heapMb, (w, reason) => {
      if (this.closing || this.slots[w.index] !== w) return;
      process.stderr.write(`lifetrace: analysis worker ${w.index} ${reason}; its hosts are failed, a new worker takes its place\n`);
      this.restarts[w.index]!++;
      this.slots[w.index] = undefined; // started again for the next host
    });
  }
}

const hostsOf = (w: PoolWorker | undefined): number => w?.clients.size ?? 0;
