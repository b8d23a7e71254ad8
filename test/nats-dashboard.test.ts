/**
 * `lifetrace serve --nats`: stateless dashboards of a fleet, against a real nats-server (Debian's,
 * 2.9) with real agents, a real worker and two real dashboards (processes). Both dashboards answer
 * the REST API and the browser feed as a server of its own agents does, from what the worker
 * published: the same flags on both, equal to `lifetrace analyze`'s; drill-downs answered by the
 * worker that owns the host; a dashboard started after the work is done shows all of it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { jetstream } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import type { StatsMessage } from '../server/fleet/results.js';
import type { AnalysisReport } from '../server/report/build.js';
import {
  FEED_PATH,
  INGEST_PATH,
  type FeedMessage,
  type FlagDetail,
  type FlagSummary,
  type HostStats,
  type HostView,
  type ObjectHistory,
  type ServerView,
} from '../server/shared/wire.js';
import { generateCapture } from './bench/generate.js';
import { buildWeb, launchBrowser, openDashboard } from './support/browser.js';
import { BIN, launch, until } from './support/live.js';
import { connectAs, NatsServer, natsArgs, replayToNats } from './support/nats.js';
import { writeCapture } from './support/run.js';
import { traceToCapture } from './support/trace.js';

const root = join(import.meta.dirname, '..');
const SAMPLE = join(root, 'test', 'fixtures', 'sample.ljsonl.gz');
const fixture = (name: string): string => writeCapture(traceToCapture(readFileSync(join(root, 'test', 'fixtures', 'rules', name), 'utf8')));

const flagKey = (f: { rule: string; severity: string; count: number; objects: string[] }): string =>
  `${f.rule}|${f.severity}|${f.count}|${f.objects.join(',')}`;

async function analyzeJson(path: string): Promise<AnalysisReport> {
  const r = await execa(process.execPath, [BIN, 'analyze', '--json', path], { reject: false });
  return JSON.parse(r.stdout) as AnalysisReport;
}

const procs: ResultPromise[] = [];
function run(args: string[]): ResultPromise {
  const p = execa(process.execPath, [BIN, ...args], { reject: false, all: true, stdin: 'ignore' });
  procs.push(p);
  return p;
}

interface Dashboard {
  url: string;
  proc: ResultPromise;
  output(): string;
  get<T>(path: string): Promise<T>;
}

async function dashboard(nats: NatsServer): Promise<Dashboard> {
  const { proc, url, output } = await launch(['serve', '--port', '0', ...natsArgs(nats, 'dashboard')]);
  procs.push(proc);
  return {
    url,
    proc,
    output,
    async get<T>(path: string): Promise<T> {
      const r = await fetch(new URL(path, url));
      if (!r.ok) throw new Error(`${path}: HTTP ${r.status} ${await r.text()}`);
      return (await r.json()) as T;
    },
  };
}

/** The first message of the browser feed (its snapshot), as the page gets it. */
async function feedSnapshot(d: Dashboard): Promise<Extract<FeedMessage, { type: 'snapshot' }>> {
  const u = new URL(FEED_PATH, d.url);
  u.protocol = 'ws:';
  const ws = new WebSocket(u, { origin: d.url.replace(/\/$/, '') });
  try {
    return await new Promise((resolve, reject) => {
      ws.once('message', (data) => resolve(JSON.parse(String(data)) as Extract<FeedMessage, { type: 'snapshot' }>));
      ws.once('error', reject);
    });
  } finally {
    ws.close();
  }
}

/** Waits until the dashboard shows `host` ended with all its events, and returns its view. */
function ended(d: Dashboard, host: string, events: number): Promise<HostView> {
  return until(
    async () => (await d.get<HostView[]>('/api/hosts')).find((v) => v.host === host && v.ended && v.events === events),
    60_000,
    `${host} ended on ${d.url}`,
  );
}

/** Waits until the dashboard's flags of `host` are analyze's, and returns them. */
function flagsOf(d: Dashboard, host: string, expected: string[]): Promise<FlagSummary[]> {
  return until(
    async () => {
      const flags = await d.get<FlagSummary[]>(`/api/flags?host=${encodeURIComponent(host)}&limit=10000`);
      return JSON.stringify(flags.map(flagKey).sort()) === JSON.stringify(expected) ? flags : undefined;
    },
    30_000,
    `${host}'s flags on ${d.url}`,
  );
}

/** A broker of the describe block's own, started before its tests; it and their processes stopped after them. */
function ownBroker(): NatsServer {
  const nats = new NatsServer();
  beforeAll(() => nats.start());
  afterAll(async () => {
    const mine = procs.splice(0);
    for (const p of mine) p.kill('SIGTERM');
    await Promise.all(mine);
    await nats.kill();
  });
  return nats;
}

describe('serve --nats: stateless dashboards of a fleet on a real nats-server', () => {
  const nats = ownBroker();

  it('two dashboards show the same flags, equal to analyze’s, through the unchanged REST API and feed; drill-downs reach the worker', async () => {
    const captures: Record<string, string> = {
      'fleet-a': SAMPLE,
      'fleet.b': fixture('epoll-cross-process-del-lost.trace'),
    };
    // One dashboard from the start, before any worker or result exists.
    const early = await dashboard(nats);
    run(['worker', ...natsArgs(nats, 'worker'), '--id', 'w1', '--lease-ms', '2000']);
    for (const [host, capture] of Object.entries(captures)) {
      const a = await replayToNats(nats, capture, host);
      expect(a.exitCode, String(a.all)).toBe(0);
    }
    const offline = Object.fromEntries(
      await Promise.all(Object.entries(captures).map(async ([h, c]) => [h, await analyzeJson(c)] as const)),
    ) as Record<string, AnalysisReport>;
    for (const host of Object.keys(captures)) await ended(early, host, offline[host]!.summary.events);
    // The other once the work is done: it reads everything back from the broker.
    const late = await dashboard(nats);
    for (const [host, report] of Object.entries(offline)) {
      const expected = report.flags.map(flagKey).sort();
      expect(expected.length, host).toBeGreaterThan(0);
      const [a, b] = [await flagsOf(early, host, expected), await flagsOf(late, host, expected)];
      const byId = (fs: FlagSummary[]) => [...fs].sort((x, y) => x.id.localeCompare(y.id));
      expect(byId(b), host).toEqual(byId(a)); // the same flags, ids and all
      const view = await ended(late, host, report.summary.events);
      expect(view.missingBatches).toBe(0);
      expect(view.lost).toBe(report.lost_events);
    }

    // A drill-down, asked of the worker by each dashboard: the same evidence.
    const [flag] = await late.get<FlagSummary[]>('/api/flags?host=fleet-a&limit=1');
    const [da, db] = [await early.get<FlagDetail>(`/api/flags/${flag!.id}`), await late.get<FlagDetail>(`/api/flags/${flag!.id}`)];
    expect(db).toEqual(da);
    expect(db.evidence.length).toBeGreaterThan(0);
    const addr = flag!.objects[0]!.split(' ')[1]!.split('#')[0]!;
    const objects = await late.get<ObjectHistory[]>(`/api/objects?addr=${addr}&host=fleet-a`);
    expect(objects[0]!.lifetimes.length).toBeGreaterThan(0);
    expect((await fetch(new URL('/api/flags/no-such-flag', late.url))).status).toBe(404);

    // The late dashboard's chart has the host's past activity, from the worker.
    const stats = await late.get<HostStats>('/api/stats?host=fleet-a');
    expect(stats.points.length).toBeGreaterThan(0);

    // The browser's feed: the snapshot holds the same flags as the REST API, on both.
    const [sa, sb] = [await feedSnapshot(early), await feedSnapshot(late)];
    const ids = (fs: FlagSummary[]) => fs.map((f) => f.id).sort();
    expect(ids(sb.flags)).toEqual(ids(sa.flags));
    expect(ids(sb.flags)).toEqual(ids(await late.get<FlagSummary[]>('/api/flags?limit=10000')));
    expect(sb.hosts.map((h) => h.host).sort()).toEqual(Object.keys(captures).sort());

    // In a real browser: both pages list the same flag rows, and a drill-down opens with the evidence.
    buildWeb();
    const browser = await launchBrowser();
    try {
      const shown: string[][] = [];
      for (const d of [early, late]) {
        const p = await openDashboard(browser, d.url);
        await p.page.getByTestId('feed-status').and(p.page.locator('[data-state="open"]')).waitFor();
        const fleet = p.page.getByTestId('fleet-status').and(p.page.locator('[data-state="connected"]'));
        await expect(fleet.textContent()).resolves.toBe(`fleet via NATS ${nats.url}`);
        const rows = p.page.getByTestId('flag-row');
        await rows.nth(sb.flags.length - 1).waitFor();
        shown.push((await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-id') ?? ''))).sort());
        await rows.and(p.page.locator(`[data-id="${flag!.id}"]`)).click();
        await p.page.getByTestId('drilldown').getByTestId('evidence-row').first().waitFor();
        await expect(p.page.getByTestId('drilldown').getByTestId('evidence-row').count()).resolves.toBe(db.evidence.length);
        expect(p.errors).toEqual([]);
        await p.close();
      }
      expect(shown[0]).toEqual(ids(sb.flags));
      expect(shown[1]).toEqual(shown[0]);
    } finally {
      await browser.close();
    }

    // What the dashboard says of its broker; metrics as a server's.
    const server = await late.get<ServerView>('/api/server');
    expect(server.fleet).toMatchObject({ url: nats.url, connected: true, hosts: 2, badMessages: 0 });
    expect(server.fleet!.resultsRead).toBeGreaterThan(0);
    const metrics = await (await fetch(new URL('/metrics', late.url))).text();
    const sampleEvents = new RegExp(`^lifetrace_events_total\\{host="fleet-a"\\} ${offline['fleet-a']!.summary.events}$`, 'm');
    expect(metrics).toMatch(sampleEvents);

    // A fleet host is not recorded here: its stream is on the broker (a range of it is saved instead).
    const record = (body: object) =>
      fetch(new URL('/api/captures/record', late.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const one = await record({ host: 'fleet-a' });
    expect(one.status).toBe(409);
    expect(((await one.json()) as { error: string }).error).toMatch(/analyzed by the fleet: its stream is kept on NATS/);
    const every = await record({});
    expect(every.status).toBe(200);
    expect(await every.json()).toEqual({ recording: [] });

    // An agent is not taken: it publishes to the broker.
    const u = new URL(INGEST_PATH, late.url);
    u.protocol = 'ws:';
    const status = await new Promise<number | undefined>((resolve) => {
      const ws = new WebSocket(u);
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode));
      ws.once('open', () => resolve(undefined));
      ws.once('error', () => {});
    });
    expect(status).toBe(404);
    expect((await late.get<ServerView>('/api/server')).rejected['ingest-on-fleet-dashboard']).toBe(1);
  }, 180_000);

  it('a new run of a host replaces its flags on the dashboard, as on a server of its own agents', async () => {
    const d = await dashboard(nats);
    const first = fixture('dcache-readdir-vs-delete.trace');
    const second = SAMPLE;
    run(['worker', ...natsArgs(nats, 'worker'), '--id', 'w2', '--lease-ms', '2000']);
    for (const capture of [first, second]) {
      const a = await replayToNats(nats, capture, 'rerun');
      expect(a.exitCode, String(a.all)).toBe(0);
    }
    const report = await analyzeJson(second);
    const view = await ended(d, 'rerun', report.summary.events);
    const flags = await flagsOf(d, 'rerun', report.flags.map(flagKey).sort());
    expect(new Set(flags.map((f) => f.run))).toEqual(new Set([view.run]));
  }, 180_000);

  it('wrong or missing credentials are refused with a clear error and exit status 2', async () => {
    const wrong = await execa(
      process.execPath,
      [BIN, 'serve', '--port', '0', '--nats', nats.url, '--nats-user', 'dashboard', '--nats-pass', 'not-the-password'],
      {
        reject: false,
        all: true,
      },
    );
    expect(wrong.exitCode).toBe(2);
    expect(wrong.all).toMatch(/NATS server refused the dashboard's credentials/);
    const none = await execa(process.execPath, [BIN, 'serve', '--port', '0', '--nats', nats.url], { reject: false, all: true });
    expect(none.exitCode).toBe(2);
    expect(none.all).toMatch(/--nats needs credentials/);
  }, 60_000);
});

describe('serve --nats: workers and the broker come and go under a dashboard', () => {
  const nats = ownBroker();

  it('a dead worker’s host shows failed with why; a new worker takes it over and the flags come back equal to analyze’s', async () => {
    const d = await dashboard(nats);
    const capture = fixture('dcache-readdir-vs-delete.trace');
    const report = await analyzeJson(capture);
    const expected = report.flags.map(flagKey).sort();
    const first = run(['worker', ...natsArgs(nats, 'worker'), '--id', 'doomed', '--lease-ms', '2000']);
    const a = await replayToNats(nats, capture, 'orphan');
    expect(a.exitCode, String(a.all)).toBe(0);
    await ended(d, 'orphan', report.summary.events);
    await flagsOf(d, 'orphan', expected);
    first.kill('SIGKILL');
    const silent = await until(
      async () => (await d.get<HostView[]>('/api/hosts')).find((v) => v.host === 'orphan' && v.failed !== null),
      40_000,
      'the orphan shown failed',
    );
    expect(silent.failed).toMatch(/no fleet worker has reported this host for \d+ s/);
    // What the dashboard knew stays shown meanwhile.
    expect((await d.get<FlagSummary[]>('/api/flags?host=orphan')).map(flagKey).sort()).toEqual(expected);
    run(['worker', ...natsArgs(nats, 'worker'), '--id', 'heir', '--lease-ms', '2000']);
    await until(
      async () => (await d.get<HostView[]>('/api/hosts')).find((v) => v.host === 'orphan' && v.failed === null && v.ended),
      40_000,
      'the orphan taken over',
    );
    await flagsOf(d, 'orphan', expected);
  }, 180_000);

  it('a dashboard started after two runs of a host stays on the newer while a new owner replays the older', async () => {
    const older = join(nats.store, 'older.ljsonl');
    await generateCapture(older, 400_000, 7);
    const newer = SAMPLE;
    const report = await analyzeJson(newer);
    const first = run(['worker', ...natsArgs(nats, 'worker'), '--id', 'first-owner', '--lease-ms', '2000']);
    for (const capture of [older, newer]) {
      const a = await replayToNats(nats, capture, 'two-runs');
      expect(a.exitCode, String(a.all)).toBe(0);
    }
    const d = await dashboard(nats);
    const current = await ended(d, 'two-runs', report.summary.events);
    await flagsOf(d, 'two-runs', report.flags.map(flagKey).sort());
    // The owner dies; the next one replays the older run (a second or so of its stats) before the newer.
    const nc = await connectAs(nats, 'worker');
    const published: string[] = [];
    nc.subscribe('lifetrace.stats.two-runs', {
      callback: (_e, m) => {
        published.push(m.json<StatsMessage>().host.run);
      },
    });
    first.kill('SIGKILL');
    run(['worker', ...natsArgs(nats, 'worker'), '--id', 'next-owner', '--lease-ms', '2000']);
    const shown = new Set<string>();
    await until(
      async () => {
        const v = (await d.get<HostView[]>('/api/hosts')).find((h) => h.host === 'two-runs')!;
        shown.add(v.run);
        for (const f of await d.get<FlagSummary[]>('/api/flags?host=two-runs&limit=10000')) shown.add(f.run);
        // Done once the new owner has published the older run and then the newer again.
        const olderAt = published.findIndex((r) => r !== current.run);
        return olderAt >= 0 && published.slice(olderAt).includes(current.run) && v.failed === null ? true : undefined;
      },
      60_000,
      'the new owner through both runs',
    );
    await nc.close();
    expect(new Set(published).size).toBe(2); // the older run was replayed, and said so
    expect([...shown]).toEqual([current.run]); // the dashboard never went back to it
    await flagsOf(d, 'two-runs', report.flags.map(flagKey).sort());
  }, 180_000);

  it('malformed results and stats (a broken worker, a stray publisher) are counted and ignored: the API, the feed and /metrics go on', async () => {
    const d = await dashboard(nats);
    run(['worker', ...natsArgs(nats, 'worker'), '--id', 'honest', '--lease-ms', '2000']);
    const capture = fixture('epoll-cross-process-del-lost.trace');
    const report = await analyzeJson(capture);
    const a = await replayToNats(nats, capture, 'honest-host');
    expect(a.exitCode, String(a.all)).toBe(0);
    const view = await ended(d, 'honest-host', report.summary.events);
    const [good] = await flagsOf(d, 'honest-host', report.flags.map(flagKey).sort());
    const before = (await d.get<ServerView>('/api/server')).fleet!.badMessages;
    // What a worker may publish, published wrong, as the worker user.
    const nc = await connectAs(nats, 'worker');
    const js = jetstream(nc);
    const hdr = (seq: string, run: string, runSeq: string) => {
      const h = headers();
      h.set('Lifetrace-Seq', seq);
      h.set('Lifetrace-Run', run);
      h.set('Lifetrace-Run-Seq', runSeq);
      return h;
    };
    const stats = JSON.parse(
      JSON.stringify({ host: view, point: { host: 'junk', wall: 1, now_s: 1, rate: {}, live: {}, lost: 0 }, runSeq: 1 }),
    );
    const junk: [string, unknown][] = [
      ['lifetrace.stats.junk', 'not json'],
      ['lifetrace.stats.junk', { ...stats, host: { ...stats.host, host: 'junk', events: '12' } }],
      ['lifetrace.stats.junk', { ...stats, host: { ...stats.host, host: 'junk', anomalyKinds: null } }],
      ['lifetrace.stats.honest-host', { ...stats, runSeq: -1 }],
    ];
    for (const [subject, body] of junk) nc.publish(subject, typeof body === 'string' ? body : JSON.stringify(body));
    const bad = [
      { subject: 'lifetrace.flags.honest-host', body: { ...good, count: '99' }, h: hdr('1000', good!.run, '1') },
      { subject: 'lifetrace.flags.honest-host', body: { ...good, count: 99 }, h: hdr('x', good!.run, '1') },
      { subject: 'lifetrace.flags.honest-host', body: { ...good, host: 'other', count: 99 }, h: hdr('1000', good!.run, '1') },
      { subject: 'lifetrace.losses.honest-host', body: [{ host: 'honest-host', count: -5 }], h: hdr('1000', good!.run, '1') },
    ];
    for (const b of bad) await js.publish(b.subject, JSON.stringify(b.body), { headers: b.h });
    await until(
      async () => ((await d.get<ServerView>('/api/server')).fleet!.badMessages >= before + junk.length + bad.length ? true : undefined),
      20_000,
      'the bad messages counted',
    );
    await nc.close();
    // Nothing of it reached the hosts, the flags or the metrics; every endpoint still answers.
    expect((await d.get<HostView[]>('/api/hosts')).map((h) => h.host)).not.toContain('junk');
    expect((await d.get<FlagSummary[]>('/api/flags?host=honest-host&limit=10000')).map(flagKey).sort()).toEqual(
      report.flags.map(flagKey).sort(),
    );
    const metrics = await fetch(new URL('/metrics', d.url));
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(new RegExp(`^lifetrace_events_total\\{host="honest-host"\\} ${report.summary.events}$`, 'm'));
    expect((await feedSnapshot(d)).hosts.map((h) => h.host)).toContain('honest-host');
  }, 120_000);

  it('nats-server killed and restarted on its storage: the dashboard reconnects and shows what comes after', async () => {
    const d = await dashboard(nats);
    run(['worker', ...natsArgs(nats, 'worker'), '--id', 'steady', '--lease-ms', '2000']);
    const before = fixture('epoll-cross-process-del-lost.trace');
    const a = await replayToNats(nats, before, 'before');
    expect(a.exitCode, String(a.all)).toBe(0);
    const beforeReport = await analyzeJson(before);
    await flagsOf(d, 'before', beforeReport.flags.map(flagKey).sort());
    // (The results stream still holds the malformed messages of the test before: counted again here.)
    const bad = (await d.get<ServerView>('/api/server')).fleet!.badMessages;
    await nats.kill();
    await until(
      async () => ((await d.get<ServerView>('/api/server')).fleet?.connected === false ? true : undefined),
      20_000,
      'disconnected',
    );
    await new Promise((r) => setTimeout(r, 1000));
    await nats.start();
    await until(async () => ((await d.get<ServerView>('/api/server')).fleet?.connected ? true : undefined), 30_000, 'reconnected');
    const after = SAMPLE;
    const b = await replayToNats(nats, after, 'after');
    expect(b.exitCode, String(b.all)).toBe(0);
    const afterReport = await analyzeJson(after);
    await ended(d, 'after', afterReport.summary.events);
    await flagsOf(d, 'after', afterReport.flags.map(flagKey).sort());
    // And nothing of before was lost or doubled by the restart.
    expect((await d.get<FlagSummary[]>('/api/flags?host=before&limit=10000')).map(flagKey).sort()).toEqual(
      beforeReport.flags.map(flagKey).sort(),
    );
    // Read again after the reconnect, from the last message read: nothing counted twice.
    expect((await d.get<ServerView>('/api/server')).fleet!.badMessages).toBe(bad);
  }, 180_000);
});
