/**
 * `lifetrace worker --nats` against a real nats-server (Debian's, 2.9) with JetStream: agents (real
 * processes) publish hosts, workers (real processes) analyze them; the test collects the flags from
 * the results stream as any reader would (docs/fleet.md: per flag id, the message with the highest
 * Lifetrace-Seq) and holds them against `lifetrace analyze --json` of each capture.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { execa, type ResultPromise } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assign } from '../server/fleet-worker/ownership.js';
import { FLEET_BUCKET, leaseKey, querySubject, RESULTS_STREAM, SEQ_HEADER, type StatsMessage } from '../server/fleet/results.js';
import { hostOfToken, hostToken, STREAM } from '../server/fleet/subjects.js';
import type { AnalysisReport } from '../server/report/build.js';
import type { FlagDetail, FlagSummary, ObjectHistory } from '../server/shared/wire.js';
import { generateCapture } from './bench/generate.js';
import { BIN, until } from './support/live.js';
import { connectAs, NatsServer, natsArgs, replayToNats, WORKER_PASS } from './support/nats.js';
import { writeCapture } from './support/run.js';
import { traceToCapture } from './support/trace.js';

const root = join(import.meta.dirname, '..');
const SAMPLE = join(root, 'test', 'fixtures', 'sample.ljsonl.gz');
const fixture = (name: string): string => writeCapture(traceToCapture(readFileSync(join(root, 'test', 'fixtures', 'rules', name), 'utf8')));
/** Short leases: a dead worker's hosts move after 2 s. */
const LEASE_MS = '2000';

/** What must agree between a worker and analyze: each flag's rule, severity, count and objects. */
const flagKey = (f: { rule: string; severity: string; count: number; objects: string[] }): string =>
  `${f.rule}|${f.severity}|${f.count}|${f.objects.join(',')}`;

async function analyzeJson(path: string): Promise<AnalysisReport> {
  const r = await execa(process.execPath, [BIN, 'analyze', '--json', path], { reject: false });
  return JSON.parse(r.stdout) as AnalysisReport;
}

const agent = replayToNats;

const workers: ResultPromise[] = [];
function worker(nats: NatsServer, id: string, pass = WORKER_PASS): ResultPromise {
  const w = execa(
    process.execPath,
    [BIN, 'worker', '--nats', nats.url, '--nats-user', 'worker', '--nats-pass', pass, '--id', id, '--lease-ms', LEASE_MS],
    { reject: false, all: true, stdin: 'ignore' },
  );
  workers.push(w);
  return w;
}

/** Every flag on the results stream, deduplicated as docs/fleet.md says a reader does; and how many messages there were. */
async function readFlags(nc: NatsConnection): Promise<{ flags: Map<string, FlagSummary>; messages: number }> {
  const consumer = await jetstream(nc).consumers.get(RESULTS_STREAM, { filter_subjects: 'lifetrace.flags.>' });
  const flags = new Map<string, { seq: number; f: FlagSummary }>();
  let messages = 0;
  for (;;) {
    const m = await consumer.next({ expires: 1000 });
    if (m === null) break;
    messages++;
    const f = m.json<FlagSummary>();
    const seq = Number(m.headers?.get(SEQ_HEADER));
    const had = flags.get(f.id);
    if (had === undefined || seq >= had.seq) flags.set(f.id, { seq, f });
  }
  return { flags: new Map([...flags].map(([id, { f }]) => [id, f])), messages };
}

/** The latest stats message of each host, as the workers publish them. */
function watchStats(nc: NatsConnection): Map<string, StatsMessage> {
  const latest = new Map<string, StatsMessage>();
  nc.subscribe('lifetrace.stats.>', {
    callback: (_e, m) => {
      const s = m.json<StatsMessage>();
      latest.set(s.host.host, s);
    },
  });
  return latest;
}

/** Waits until every worker of `ids` heartbeats in the fleet's bucket (which the first one creates). */
async function workersUp(nc: NatsConnection, ids: string[]): Promise<KV> {
  return until(
    async () => {
      const kv = await new Kvm(nc).open(FLEET_BUCKET);
      for (const id of ids) if ((await kv.get(`worker.${id}`).catch(() => null)) === null) return undefined;
      return kv;
    },
    20_000,
    'the workers',
  );
}

/** The hosts on the batches stream (the workers share all of them, earlier tests' too). */
async function streamHosts(nc: NatsConnection): Promise<string[]> {
  const info = await (await jetstreamManager(nc)).streams.info(STREAM, { subjects_filter: 'lifetrace.batches.>' });
  return Object.keys(info.state.subjects ?? {}).map((s) => hostOfToken(s.slice('lifetrace.batches.'.length)));
}

/** Two worker ids between which the assignment of `all` hosts gives each some of `hosts`. */
function splittingIds(all: string[], hosts: string[]): { ids: [string, string]; owners: Map<string, string> } {
  for (let i = 0; ; i++) {
    const ids: [string, string] = [`wa${i}`, `wb${i}`];
    const owners = assign(all, ids);
    if (new Set(hosts.map((h) => owners.get(h))).size === 2) return { ids, owners };
  }
}

/** Waits until every host's stream has ended on a worker, then holds each host's flags against analyze's. */
async function expectAnalyzeFlags(nc: NatsConnection, stats: Map<string, StatsMessage>, captures: Record<string, string>): Promise<void> {
  for (const host of Object.keys(captures)) await until(() => (stats.get(host)?.host.ended ? true : undefined), 60_000, `${host} to end`);
  const { flags } = await readFlags(nc);
  for (const [host, capture] of Object.entries(captures)) {
    const offline = await analyzeJson(capture);
    const mine = [...flags.values()].filter((f) => f.host === host);
    expect(mine.map(flagKey).sort(), host).toEqual(offline.flags.map(flagKey).sort());
    const view = stats.get(host)!.host;
    expect(view.events, host).toBe(offline.summary.events);
    expect(view.missingBatches, host).toBe(0);
  }
}

describe('worker --nats: analysis of a fleet on a real nats-server', () => {
  let nats: NatsServer;
  let reader: NatsConnection;
  beforeAll(async () => {
    nats = new NatsServer();
    await nats.start();
    reader = await connectAs(nats, 'worker');
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) {
      w.kill('SIGTERM');
      await w;
    }
  });
  afterAll(async () => {
    await reader?.close();
    await nats?.kill();
  });

  it("one worker: each host's flags equal analyze's; drill-downs and objects answer by request/reply", async () => {
    const captures = {
      sample: SAMPLE,
      'epoll.fixture': fixture('epoll-cross-process-del-lost.trace'),
      'dcache:1': fixture('dcache-readdir-vs-delete.trace'),
    };
    for (const [host, capture] of Object.entries(captures)) expect((await agent(nats, capture, host)).exitCode).toBe(0);
    const stats = watchStats(reader);
    const w = worker(nats, 'solo');
    await expectAnalyzeFlags(reader, stats, captures);
    expect((await readFlags(reader)).flags.size).toBeGreaterThan(3);

    const flags = (await reader.request(querySubject('sample'), JSON.stringify({ type: 'flags' }))).json<FlagSummary[]>();
    expect(flags.length).toBe((await analyzeJson(SAMPLE)).flags.length);
    const detail = (await reader.request(querySubject('sample'), JSON.stringify({ type: 'flag', id: flags[0]!.id }))).json<FlagDetail>();
    expect(detail.flag.id).toBe(flags[0]!.id);
    expect(detail.explanation.length).toBeGreaterThan(50);
    expect(detail.evidence.length).toBeGreaterThan(0);
    const addr = flags[0]!.objects[0]!.split(' ')[1]!.split('#')[0]!;
    const objects = (await reader.request(querySubject('sample'), JSON.stringify({ type: 'objects', addr }))).json<ObjectHistory[]>();
    expect(objects[0]!.lifetimes.length).toBeGreaterThan(0);
    const missing = (await reader.request(querySubject('sample'), JSON.stringify({ type: 'flag', id: 'nope' }))).json<{ error: string }>();
    expect(missing.error).toMatch(/no flag/);
    w.kill('SIGTERM');
    expect((await w).all).toMatch(/let sample go/);
  }, 120_000);

  it('two workers split the hosts, each under its lease, and together give analyze’s flags', async () => {
    const captures = {
      'split-a': fixture('dcache-readdir-vs-delete.trace'),
      'split-b': SAMPLE,
      'split-c': fixture('epoll-cross-process-del-lost.trace'),
    };
    const hosts = Object.keys(captures);
    const { ids, owners } = splittingIds([...(await streamHosts(reader)), ...hosts], hosts);
    const stats = watchStats(reader);
    for (const id of ids) worker(nats, id);
    const kv = await workersUp(reader, ids);
    for (const [host, capture] of Object.entries(captures)) expect((await agent(nats, capture, host)).exitCode).toBe(0);
    await expectAnalyzeFlags(reader, stats, captures);
    for (const host of hosts) expect((await kv.get(leaseKey(host)))?.string(), host).toBe(owners.get(host));
    expect(new Set(owners.values()).size).toBe(2);
  }, 120_000);

  it('a worker killed mid-stream: its hosts move to the other, which replays them; flags equal analyze’s, nothing lost or doubled', async () => {
    const hosts = ['kill-a', 'kill-b', 'kill-c'];
    const captures: Record<string, string> = {};
    for (const [i, h] of hosts.entries()) {
      captures[h] = join(nats.store, `${h}.ljsonl`);
      await generateCapture(captures[h], 400_000, 21 + i);
    }
    const { ids, owners } = splittingIds([...(await streamHosts(reader)), ...hosts], hosts);
    const victimHosts = hosts.filter((h) => owners.get(h) === ids[0]);
    const stats = watchStats(reader);
    const [victim] = [worker(nats, ids[0]), worker(nats, ids[1])];
    const kv = await workersUp(reader, ids);
    const agents = hosts.map((h) => agent(nats, captures[h]!, h));
    // Killed while one of its hosts is part analyzed.
    const midway = await until(
      () => victimHosts.map((h) => stats.get(h)?.host).find((v) => v !== undefined && v.events > 0 && !v.ended),
      60_000,
      "the victim's host under way",
    );
    victim.kill('SIGKILL');
    expect((await victim).signal).toBe('SIGKILL');
    for (const a of agents) expect((await a).exitCode).toBe(0);
    await until(async () => ((await kv.get(leaseKey(midway.host)))?.string() === ids[1] ? true : undefined), 30_000, 'the takeover');
    // The survivor's stats replace the victim's; wait for its end of every host.
    for (const h of victimHosts) stats.delete(h);
    await expectAnalyzeFlags(reader, stats, captures);
    const { flags, messages } = await readFlags(reader);
    // Each flag once (one id each, all of one run per host), however many times it was published.
    const runs = new Set([...flags.values()].filter((f) => hosts.includes(f.host)).map((f) => `${f.host}:${f.run}`));
    expect(runs.size).toBe(hosts.length);
    expect(messages).toBeGreaterThanOrEqual(flags.size);
  }, 180_000);

  it('a wrong credential is refused with a clear error and exit status 2; none is no default', async () => {
    const wrong = await worker(nats, 'intruder', 'not-the-password');
    expect(wrong.exitCode).toBe(2);
    expect(wrong.all).toMatch(/NATS server refused the worker's credentials \(Authorization Violation\)/);
    const none = await execa(process.execPath, [BIN, 'worker', '--nats', nats.url], { reject: false, all: true });
    expect(none.exitCode).toBe(2);
    expect(none.all).toMatch(/--nats needs credentials/);
    // The agent's credentials are not a worker's: it may not read the stream.
    const asAgent = await execa(process.execPath, [BIN, 'worker', ...natsArgs(nats, 'agent')], {
      reject: false,
      all: true,
    });
    expect(asAgent.exitCode).toBe(2);
    expect(asAgent.all).toMatch(/does not let these credentials/);
    expect(hostToken('a.b')).toBe('a=2Eb');
  }, 60_000);
});

describe('worker --nats: the broker killed and started again', () => {
  it('nats-server killed mid-analysis and restarted on its storage: agents and the worker resume; flags equal analyze’s', async () => {
    const nats = new NatsServer();
    await nats.start();
    let reader = await connectAs(nats, 'worker');
    try {
      const hosts = ['restart-a', 'restart-b'];
      const captures: Record<string, string> = {};
      for (const [i, h] of hosts.entries()) {
        captures[h] = join(nats.store, `${h}.ljsonl`);
        await generateCapture(captures[h], 300_000, 41 + i);
      }
      let stats = watchStats(reader);
      const w = worker(nats, 'survivor');
      await workersUp(reader, ['survivor']);
      const agents = hosts.map((h) => agent(nats, captures[h]!, h));
      await until(
        () => hosts.map((h) => stats.get(h)?.host).find((v) => v !== undefined && v.events > 0 && !v.ended),
        60_000,
        'analysis under way',
      );
      await reader.close();
      await nats.kill();
      await new Promise((r) => setTimeout(r, 1500));
      await nats.start();
      reader = await connectAs(nats, 'worker');
      stats = watchStats(reader);
      for (const a of agents) expect((await a).exitCode).toBe(0);
      await expectAnalyzeFlags(reader, stats, captures);
      w.kill('SIGTERM');
      expect((await w).all).toMatch(/letting its hosts go/);
    } finally {
      await reader.close();
      await nats.kill();
    }
  }, 180_000);
});
