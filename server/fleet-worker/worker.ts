/**
 * `lifetrace worker --nats`: one analysis worker of a fleet (docs/fleet.md). It heartbeats in the
 * fleet's KV bucket, finds the hosts on the stream, and owns those that rendezvous hashing over the
 * live workers gives it, each under a lease in the bucket (taken with create, so one worker holds a
 * host at a time; renewed with each heartbeat; expiring with the bucket's TTL when its worker dies).
 * A host it comes to own is read from the start of its subject (HostFeed); one it should no longer
 * own (a new worker took its share) is let go, lease deleted, for its new owner to replay.
 */
import { hostname } from 'node:os';
import { jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { AnalysisOptions } from '../analyze/pipeline.js';
import { connectionOptions, connectRefusal, type NatsTarget } from '../fleet/connect.js';
import { FLEET_BUCKET, leaseKey, RESULTS_CONFIG, RESULTS_STREAM, workerKey } from '../fleet/results.js';
import { BATCH_SUBJECTS, hostOfToken, STREAM } from '../fleet/subjects.js';
import { STATS_INTERVAL_MS } from '../shared/wire.js';
import { err, ok, type Result } from '../support/result.js';
import { HostFeed } from './host-feed.js';
import { assign } from './ownership.js';
import { Pacer } from './pacer.js';

export interface WorkerOptions {
  target: NatsTarget;
  /** This worker's name in the bucket (default: hostname, pid and a random part). */
  id?: string;
  /** How long a lease (and a worker's membership) outlives its last renewal, ms: a dead worker's hosts move after this. */
  leaseMs: number;
  analysis: Partial<AnalysisOptions>;
  clock?: () => number;
  log(s: string): void;
}

/** Why a worker let a host go: another worker's share now (rebalancing), its lease lost to another, or the worker stopping. */
export type ReleaseReason = 'rebalanced' | 'lease-lost' | 'stopped';

/** What the worker has done since it started, and its connection (its /metrics reads them). */
export interface WorkerCounts {
  leasesTaken: number;
  leasesReleased: Record<ReleaseReason, number>;
  /** Connections to the broker lost, and made again. */
  disconnects: number;
  reconnects: number;
}

/** How often a quiet live stream is settled (as the server's hub ticks). */
const TICK_MS = 100;

export class FleetWorker {
  readonly id: string;
  readonly counts: WorkerCounts = {
    leasesTaken: 0,
    leasesReleased: { rebalanced: 0, 'lease-lost': 0, stopped: 0 },
    disconnects: 0,
    reconnects: 0,
  };
  /** Connected to the broker now (false before start, while reconnecting, after stop). */
  connected = false;
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private kv: KV | undefined;
  private readonly feeds = new Map<string, { feed: HostFeed; revision: number }>();
  private timers: NodeJS.Timeout[] = [];
  private renewing: Promise<void> = Promise.resolve();
  private balancing: Promise<void> = Promise.resolve();
  private stopping = false;
  private rounds = 0;
  private readonly pacer = new Pacer();
  private readonly clock: () => number;

  constructor(private readonly o: WorkerOptions) {
    this.id = o.id ?? `${hostname().replace(/[^A-Za-z0-9_-]/g, '_')}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    this.clock = o.clock ?? Date.now;
  }

  /** The hosts this worker owns now. */
  get hosts(): string[] {
    return [...this.feeds.keys()].sort();
  }

  /** The feeds of the hosts it owns now. */
  ownedFeeds(): HostFeed[] {
    return [...this.feeds.values()].map((o) => o.feed);
  }

  /** Bytes and messages this worker's connection has received and sent (every subject). */
  traffic(): { inBytes: number; outBytes: number; inMsgs: number; outMsgs: number } {
    return this.nc?.stats() ?? { inBytes: 0, outBytes: 0, inMsgs: 0, outMsgs: 0 };
  }

  /** Connects, makes sure the results stream and the bucket exist, and starts balancing. A refusal is an error value. */
  async start(): Promise<Result<void>> {
    let nc: NatsConnection;
    try {
      nc = await connect({ ...connectionOptions(this.o.target, `lifetrace worker ${this.id}`, 'worker'), waitOnFirstConnect: true });
    } catch (e) {
      return err(connectRefusal(e, 'worker'));
    }
    this.nc = nc;
    this.connected = true;
    void this.watchConnection(nc);
    this.js = jetstream(nc);
    try {
      const jsm = await jetstreamManager(nc);
      try {
        await jsm.streams.info(RESULTS_STREAM);
      } catch (e) {
        if (!(e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound)) throw e;
        await jsm.streams.add(RESULTS_CONFIG).catch(async (e2: unknown) => {
          // Another worker created it meanwhile.
          if ((await jsm.streams.info(RESULTS_STREAM).catch(() => undefined)) === undefined) throw e2;
        });
      }
      this.kv = await new Kvm(nc).create(FLEET_BUCKET, { ttl: this.o.leaseMs, history: 1 });
    } catch (e) {
      await nc.close();
      return err(connectRefusal(e, 'worker'));
    }
    this.o.log(`lifetrace: worker ${this.id} on NATS ${this.o.target.url} (leases of ${this.o.leaseMs} ms)`);
    const every = (ms: number, f: () => void) => this.timers.push(setInterval(f, ms));
    const beat = Math.max(100, Math.floor(this.o.leaseMs / 3));
    every(beat, () => this.chained('renewing', () => this.bounded(this.renew(), 'a heartbeat')));
    every(beat, () => this.chained('balancing', () => this.bounded(this.balance(), 'balancing')));
    every(TICK_MS, () => {
      const now = this.clock();
      for (const { feed } of this.feeds.values()) feed.tick(now);
    });
    every(STATS_INTERVAL_MS, () => {
      const now = this.clock();
      for (const { feed } of this.feeds.values()) feed.sample(now);
    });
    this.chained('renewing', () => this.renew());
    this.chained('balancing', () => this.balance());
    return ok(undefined);
  }

  /** When the connection closes for good (the server refused the credentials while reconnecting, or stop). */
  async closed(): Promise<Error | undefined> {
    return (await this.nc?.closed()) ?? undefined;
  }

  /** Lets every host go (their leases deleted, so other workers take them at once) and disconnects. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    await this.balancing;
    await this.renewing;
    await Promise.all([...this.feeds.keys()].map((h) => this.release(h, 'stopped')));
    await this.kv?.delete(workerKey(this.id)).catch(() => {});
    await this.nc?.drain().catch(() => {});
    this.connected = false;
  }

  /** Keeps `connected` and the reconnect counts as the client reports them. */
  private async watchConnection(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.connected = false;
        this.counts.disconnects++;
      } else if (s.type === 'reconnect') {
        this.connected = true;
        this.counts.reconnects++;
      } else if (s.type === 'close') this.connected = false;
    }
    this.connected = false;
  }

  /** Chains `f` after the previous call of the same chain: a slow broker must not pile calls up. */
  private chained(chain: 'renewing' | 'balancing', f: () => Promise<void>): void {
    this[chain] = this[chain].then(f).catch((e: unknown) => {
      if (!this.stopping) this.o.log(`lifetrace: worker ${this.id}: ${(e as Error).message}; trying again`);
    });
  }

  /**
   * `p`, or an error once it has taken longer than two leases: a request the broker never answered
   * (a reply lost with a connection) must not stop the chain for good; what it was doing is tried
   * again on the next round.
   */
  private bounded(p: Promise<void>, what: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_r, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${2 * this.o.leaseMs} ms`)), 2 * this.o.leaseMs);
    });
    return Promise.race([p, late]).finally(() => clearTimeout(timer));
  }

  /**
   * The heartbeat: membership and every lease renewed at once, one round trip however many hosts,
   * and apart from balancing (whose claims and stream reads take longer on a busy worker).
   */
  private async renew(): Promise<void> {
    const kv = this.kv!;
    if (this.stopping) return;
    const began = this.clock();
    await Promise.all([
      kv.put(workerKey(this.id), JSON.stringify({ id: this.id, since: began })),
      ...[...this.feeds].map(async ([host, owned]) => {
        try {
          owned.revision = await kv.update(leaseKey(host), this.id, owned.revision);
        } catch (e) {
          if (this.feeds.get(host) !== owned) return; // let go meanwhile
          // Another worker holds it now (this one stalled past its lease): it is theirs.
          this.o.log(`lifetrace: worker ${this.id}: lost the lease of ${host} (${(e as Error).message})`);
          await this.release(host, 'lease-lost');
        }
      }),
    ]);
    const took = this.clock() - began;
    if (took > this.o.leaseMs / 2)
      this.o.log(
        `lifetrace: worker ${this.id}: a heartbeat took ${took} ms of a ${this.o.leaseMs} ms lease: give it more CPU or a longer --lease-ms`,
      );
  }

  /** Takes and lets go of hosts as rendezvous hashing over the live workers says. */
  private async balance(): Promise<void> {
    const kv = this.kv!;
    // Not on the first heartbeat: workers started together then see each other before either
    // claims a host (rather than one replaying hosts it at once gives away).
    if (this.stopping || this.rounds++ === 0) return;
    const workers: string[] = [];
    for await (const k of await kv.keys('worker.>')) workers.push(k.slice('worker.'.length));
    const jsm = await jetstreamManager(this.nc!);
    const info = await jsm.streams.info(STREAM, { subjects_filter: `${BATCH_SUBJECTS}.>` }).catch((e: unknown) => {
      if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound) return undefined; // no agent yet
      throw e;
    });
    const hosts = Object.keys(info?.state.subjects ?? {}).map((s) => hostOfToken(s.slice(BATCH_SUBJECTS.length + 1)));
    if (this.stopping) return;
    const owners = assign(hosts, workers);
    await Promise.all(
      hosts.map((host) => {
        const mine = owners.get(host) === this.id;
        if (mine && !this.feeds.has(host)) return this.take(host);
        if (!mine && this.feeds.has(host)) return this.release(host, 'rebalanced');
        return undefined;
      }),
    );
  }

  /** Takes `host`'s lease if it is free, and starts replaying its stream. */
  private async take(host: string): Promise<void> {
    let revision: number;
    try {
      revision = await this.kv!.create(leaseKey(host), this.id);
    } catch {
      return; // held: its owner lets it go, or its lease runs out
    }
    const feed = new HostFeed(host, this.nc!, this.js!, {
      analysis: this.o.analysis,
      clock: this.clock,
      pacer: this.pacer,
      log: this.o.log,
    });
    this.feeds.set(host, { feed, revision });
    this.counts.leasesTaken++;
    await feed.start();
    this.o.log(`lifetrace: worker ${this.id}: owns ${host}`);
  }

  /** Stops following `host` and (unless it is already another's) deletes its lease. */
  private async release(host: string, why: ReleaseReason): Promise<void> {
    const owned = this.feeds.get(host);
    if (owned === undefined) return;
    this.feeds.delete(host);
    this.counts.leasesReleased[why]++;
    await owned.feed.stop();
    if (why !== 'lease-lost') await this.kv!.delete(leaseKey(host), { previousSeq: owned.revision }).catch(() => {});
    this.o.log(`lifetrace: worker ${this.id}: let ${host} go`);
  }
}
