/**
 * A fleet worker's `GET /metrics` (`lifetrace worker --metrics-port`) against a real nats-server:
 * agents (real processes) replay captures to the stream, workers (real processes) analyze them, and
 * the test scrapes the workers as Prometheus would. The per-host counters say what `lifetrace
 * analyze` says of each capture; a host a worker lets go of leaves its scrape (its new owner's
 * says the same); the listener keeps the REST API's token rules and counts what it refuses.
 */
import { request } from 'node:http';
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assign } from '../server/fleet-worker/ownership.js';
import { STREAM } from '../server/fleet/subjects.js';
import type { AnalysisReport } from '../server/report/build.js';
import { BIN, TOKEN, until } from './support/live.js';
import { connectAs, NatsServer, natsArgs, replayToNats } from './support/nats.js';
import { samples, sum, type Sample } from './support/prometheus.js';
import { writeCapture } from './support/run.js';
import { traceToCapture } from './support/trace.js';

const root = join(import.meta.dirname, '..');
const SAMPLE = join(root, 'test', 'fixtures', 'sample.ljsonl.gz');
const fixture = (name: string): string => writeCapture(traceToCapture(readFileSync(join(root, 'test', 'fixtures', 'rules', name), 'utf8')));

/** The environment without LIFETRACE_TOKEN (the tests say which token, if any). */
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'LIFETRACE_TOKEN'));

async function analyzeJson(path: string): Promise<AnalysisReport> {
  const r = await execa(process.execPath, [BIN, 'analyze', '--json', path], { reject: false });
  return JSON.parse(r.stdout) as AnalysisReport;
}

async function replay(nats: NatsServer, capture: string, host: string): Promise<void> {
  const r = await replayToNats(nats, capture, host);
  expect(r.exitCode, r.all).toBe(0);
}

function workerArgs(nats: NatsServer, id: string, extra: string[]): string[] {
  return [BIN, 'worker', ...natsArgs(nats, 'worker'), '--id', id, '--lease-ms', '2000', ...extra];
}

interface MetricsWorker {
  proc: ResultPromise;
  /** Where it serves /metrics, as it logged it. */
  url: string;
  stop(): Promise<void>;
}

/** A worker with a metrics listener on a free port; resolves once it logged `metrics at URL`. */
async function metricsWorker(nats: NatsServer, id: string, extra: string[] = []): Promise<MetricsWorker> {
  const proc = execa(process.execPath, workerArgs(nats, id, ['--metrics-port', '0', ...extra]), {
    reject: false,
    stdin: 'ignore',
    env: ENV,
    extendEnv: false,
  });
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = new RegExp(`lifetrace: worker ${id}: metrics at (http://\\S+)`).exec(err);
      if (m !== null) resolve(m[1]!);
    });
    void proc.then((r) => reject(new Error(`the worker exited ${String(r.exitCode)}: ${err}`)));
  });
  return {
    proc,
    url,
    async stop() {
      proc.kill('SIGTERM');
      await proc;
    },
  };
}

/** A GET by node:http (which, unlike fetch, sends the Host header it is given). */
function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'] ?? '', body }));
    })
      .on('error', reject)
      .end();
  });
}

async function scrape(url: string, headers: Record<string, string> = {}): Promise<string> {
  const r = await get(url, headers);
  expect(r.status, r.body).toBe(200);
  return r.body;
}

const ofHost = (xs: Sample[], host: string): Sample[] => xs.filter((x) => x.labels.host === host);
const one = (text: string, name: string, labels: Record<string, string> = {}): number | undefined =>
  samples(text, name).find((x) => Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value;

/** How many messages the host's subject holds (hello, batches, end). */
async function streamMessages(nc: NatsConnection, host: string): Promise<number> {
  const info = await (await jetstreamManager(nc)).streams.info(STREAM, { subjects_filter: `lifetrace.batches.${host}` });
  return info.state.subjects?.[`lifetrace.batches.${host}`] ?? 0;
}

/** Scrapes until the worker has handled every message of the host's subject (its end included), and returns that scrape. */
async function caughtUp(nc: NatsConnection, url: string, host: string): Promise<string> {
  const want = await streamMessages(nc, host);
  expect(want).toBeGreaterThan(2);
  return until(
    async () => {
      const text = await scrape(url);
      return one(text, 'lifetrace_fleet_stream_messages_total', { host }) === want ? text : undefined;
    },
    60_000,
    `the worker to read ${host}'s ${want} messages`,
  );
}

/** The host's counters in `text` hold against analyze's report of its capture. */
function expectAnalyzeCounts(text: string, host: string, offline: AnalysisReport): void {
  expect(ofHost(samples(text, 'lifetrace_events_total'), host), host).toEqual([{ labels: { host }, value: offline.summary.events }]);
  expect(sum(ofHost(samples(text, 'lifetrace_lost_events_total'), host)), host).toBe(offline.lost_events);
  expect(sum(ofHost(samples(text, 'lifetrace_anomalies_total'), host)), host).toBe(
    Object.values(offline.summary.anomaly_counts).reduce((a, b) => a + b, 0),
  );
  expect(sum(ofHost(samples(text, 'lifetrace_missing_batches_total'), host)), host).toBe(0);
  const want = new Map<string, number>();
  for (const f of offline.flags) want.set(`${f.rule}|${f.severity}`, (want.get(`${f.rule}|${f.severity}`) ?? 0) + f.count);
  const flags = ofHost(samples(text, 'lifetrace_flags_total'), host);
  expect(new Map(flags.map((x) => [`${x.labels.rule}|${x.labels.severity}`, x.value])), host).toEqual(want);
}

describe('worker --metrics-port: a fleet worker scraped as Prometheus does', () => {
  let nats: NatsServer;
  let reader: NatsConnection;
  const running: MetricsWorker[] = [];
  const captures = { 'm-sample': SAMPLE, 'm-epoll': fixture('epoll-cross-process-del-lost.trace') };
  const hosts = Object.keys(captures);
  const offline = new Map<string, AnalysisReport>();
  // A second worker's id to which the hashing gives one of the two hosts (the first keeps the other).
  const second = (() => {
    for (let i = 0; ; i++) if (new Set(assign(hosts, ['ma', `mb${i}`]).values()).size === 2) return `mb${i}`;
  })();

  beforeAll(async () => {
    nats = new NatsServer();
    await nats.start();
    reader = await connectAs(nats, 'worker');
    for (const [host, capture] of Object.entries(captures)) {
      await replay(nats, capture, host);
      offline.set(host, await analyzeJson(capture));
    }
  }, 60_000);
  afterAll(async () => {
    for (const w of running) await w.stop();
    await reader?.close();
    await nats?.kill();
  });

  it("counts what analyze finds in each host's capture: events, losses, anomalies, flags by rule and severity", async () => {
    const a = await metricsWorker(nats, 'ma');
    running.push(a);
    expect(a.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    let text = '';
    for (const host of hosts) text = await caughtUp(reader, a.url, host);
    text = await scrape(a.url);
    for (const host of hosts) expectAnalyzeCounts(text, host, offline.get(host)!);
    // The captures are worth the comparison: flags of several rules, and a loss.
    expect(new Set(samples(text, 'lifetrace_flags_total').map((x) => x.labels.rule)).size).toBeGreaterThan(3);
    expect(sum(samples(text, 'lifetrace_lost_events_total'))).toBeGreaterThan(0);

    const res = await get(a.url);
    expect(res.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(one(text, 'lifetrace_hosts')).toBe(2);
    expect(one(text, 'lifetrace_fleet_worker_info', { worker: 'ma' })).toBe(1);
    expect(one(text, 'lifetrace_fleet_leases_taken_total')).toBe(2);
    expect(one(text, 'lifetrace_fleet_nats_connected')).toBe(1);
    expect(one(text, 'lifetrace_fleet_nats_bytes_total', { direction: 'in' })).toBeGreaterThan(0);
    for (const host of hosts) {
      expect(one(text, 'lifetrace_fleet_backlog_messages', { host })).toBe(0);
      expect(one(text, 'lifetrace_fleet_stream_bytes_total', { host })).toBeGreaterThan(0);
      expect(one(text, 'lifetrace_fleet_results_published_total', { host })).toBeGreaterThan(0);
      expect(one(text, 'lifetrace_fleet_results_publish_failures_total', { host })).toBe(0);
      expect(ofHost(samples(text, 'lifetrace_fleet_analysis_lag_seconds'), host).map((x) => x.labels.quantile)).toEqual([
        '0.5',
        '0.99',
        '1',
      ]);
    }
    // The process' own figures come along (prom-client's defaults), with the server's prefix.
    expect(one(text, 'lifetrace_process_resident_memory_bytes')).toBeGreaterThan(0);

    // On loopback anyone on the machine may scrape, but the Host must name loopback (DNS rebinding).
    expect((await get(a.url, { host: 'evil.example' })).status).toBe(403);
    expect((await get(a.url.replace(/\/metrics$/, '/api/hosts'))).status).toBe(404);
    text = await scrape(a.url);
    expect(one(text, 'lifetrace_refused_total', { reason: 'metrics-bad-host' })).toBe(1);
    expect(one(text, 'lifetrace_refused_total', { reason: 'metrics-not-found' })).toBe(1);
  }, 120_000);

  it('a host the worker lets go of leaves its scrape; its new owner counts the same from its replay', async () => {
    const a = running[0]!;
    const b = await metricsWorker(nats, second);
    running.push(b);
    const moved = hosts.find((h) => assign(hosts, ['ma', second]).get(h) === second)!;
    const kept = hosts.find((h) => h !== moved)!;
    const after = await until(
      async () => {
        const text = await scrape(a.url);
        return one(text, 'lifetrace_hosts') === 1 ? text : undefined;
      },
      30_000,
      `worker ma to let ${moved} go`,
    );
    for (const name of [
      'lifetrace_events_total',
      'lifetrace_flags_total',
      'lifetrace_fleet_stream_messages_total',
      'lifetrace_fleet_analysis_lag_seconds',
    ])
      expect(ofHost(samples(after, name), moved), name).toEqual([]);
    expect(one(after, 'lifetrace_fleet_leases_released_total', { reason: 'rebalanced' })).toBe(1);
    expectAnalyzeCounts(after, kept, offline.get(kept)!);

    const theirs = await caughtUp(reader, b.url, moved);
    expectAnalyzeCounts(theirs, moved, offline.get(moved)!);
    expect(ofHost(samples(theirs, 'lifetrace_events_total'), kept)).toEqual([]);
    expect(one(theirs, 'lifetrace_fleet_leases_taken_total')).toBe(1);
  }, 120_000);
});

describe('worker --metrics-port: the listener', () => {
  let nats: NatsServer;
  beforeAll(async () => {
    nats = new NatsServer();
    await nats.start();
  });
  afterAll(async () => nats?.kill());

  it('off loopback it needs a token (16+ characters): without one the worker does not start', async () => {
    for (const extra of [[], ['--token', 'short']]) {
      const r = await execa(process.execPath, workerArgs(nats, 'w-open', ['--metrics-port', '0', '--metrics-host', '0.0.0.0', ...extra]), {
        reject: false,
        all: true,
        stdin: 'ignore',
        env: ENV,
        extendEnv: false,
      });
      expect(r.exitCode, r.all).toBe(2);
      expect(r.all).toMatch(/--metrics-host 0\.0\.0\.0 \(not loopback\) needs --token \(16 characters or more\), or LIFETRACE_TOKEN/);
      expect(r.all).not.toMatch(/on NATS/); // refused before it joined the fleet
    }
    const stray = await execa(process.execPath, workerArgs(nats, 'w-stray', ['--token', TOKEN]), {
      reject: false,
      all: true,
      stdin: 'ignore',
    });
    expect(stray.exitCode).toBe(2);
    expect(stray.all).toMatch(/--metrics-host and --token go with --metrics-port/);
  });

  it('with a token, a scrape without it or with a wrong one is 401 and counted; with it, 200', async () => {
    const w = await metricsWorker(nats, 'w-token', ['--metrics-host', '0.0.0.0', '--token', TOKEN]);
    try {
      const port = new URL(w.url).port;
      const at = `http://127.0.0.1:${port}/metrics`;
      expect((await get(at)).status).toBe(401);
      expect((await get(at, { authorization: 'Bearer wrong-token-0123456789' })).status).toBe(401);
      expect((await get(at.replace(/\/metrics$/, '/'))).status).toBe(401); // nothing but a refusal without the token
      const text = await scrape(at, { authorization: `Bearer ${TOKEN}` });
      expect(one(text, 'lifetrace_refused_total', { reason: 'metrics-bad-token' })).toBe(3);
      expect(one(text, 'lifetrace_hosts')).toBe(0);
    } finally {
      await w.stop();
    }
  });

  it('the connection to the broker: lost and made again, counted', async () => {
    const w = await metricsWorker(nats, 'w-conn');
    try {
      const connected = (want: number) => async () => {
        const text = await scrape(w.url);
        return one(text, 'lifetrace_fleet_nats_connected') === want ? text : undefined;
      };
      await until(connected(1), 20_000, 'the worker to connect');
      await nats.kill();
      const down = await until(connected(0), 20_000, 'the worker to see the broker gone');
      expect(one(down, 'lifetrace_fleet_nats_disconnects_total')).toBe(1);
      await nats.start(); // the same port and storage
      const up = await until(connected(1), 30_000, 'the worker to reconnect');
      expect(one(up, 'lifetrace_fleet_nats_reconnects_total')).toBe(1);
    } finally {
      await w.stop();
    }
  });

  it('a metrics port in use is a clear error, exit status 2', async () => {
    const taken = createServer();
    const port = await new Promise<number>((resolve) =>
      taken.listen(0, '127.0.0.1', () => resolve((taken.address() as { port: number }).port)),
    );
    try {
      const r = await execa(process.execPath, workerArgs(nats, 'w-busy', ['--metrics-port', String(port)]), {
        reject: false,
        all: true,
        stdin: 'ignore',
      });
      expect(r.exitCode, r.all).toBe(2);
      expect(r.all).toContain(`--metrics-port ${port} on 127.0.0.1 is in use: pick another`);
    } finally {
      taken.close();
    }
  });
});
