/**
 * `lifetrace serve --workers N`: hosts analyzed on worker threads. A worker that dies (here: a
 * real out-of-memory of its thread, a host too big for `--worker-heap-mb`) takes only its own
 * hosts with it: they are shown failed with the reason, their agent is refused with it, and the
 * server, the other worker's hosts and new hosts go on, their flags still exactly analyze's.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeFile } from '../server/analyze/pipeline.js';
import { buildReport, type AnalysisReport } from '../server/report/build.js';
import type { FlagSummary, HostView } from '../server/shared/wire.js';
import { generateCapture } from './bench/generate.js';
import { launchBrowser, openDashboard, SAMPLE, screenshot } from './support/browser.js';
import { agent, startServe, TOKEN, until, type ServerProcess } from './support/live.js';

const flagKey = (f: { rule: string; severity: string; count: number; objects: string[] }): string =>
  `${f.rule}|${f.severity}|${f.count}|${f.objects.join(',')}`;

/** The value of one sample of a metric in Prometheus' text format, or undefined. */
function metric(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

describe('serve --workers: a worker thread that dies is contained', () => {
  let server: ServerProcess;
  let offline: AnalysisReport;
  let heavy: string;
  const data = mkdtempSync(join(tmpdir(), 'lifetrace-workers-'));

  beforeAll(async () => {
    // Each worker may hold 16 MB of heap: the bundled sample fits, 200,000 events of one host do not.
    server = await startServe(['--workers', '2', '--worker-heap-mb', '16'], data);
    offline = buildReport(await analyzeFile(SAMPLE));
    heavy = join(data, 'heavy.ljsonl');
    await generateCapture(heavy, 200_000, 31);
  }, 60_000);
  afterAll(async () => server?.stop());

  const host = async (name: string): Promise<HostView | undefined> =>
    (await server.get<HostView[]>('/api/hosts')).find((h) => h.host === name);

  const streamSample = async (name: string): Promise<void> => {
    const r = await agent(server.url, ['--replay', SAMPLE, '--speed', 'max', '--host', name]);
    expect(r.exitCode, r.all).toBe(0);
    await until(async () => ((await host(name))?.ended ? true : undefined), 20_000, `${name} to end`);
    const live = await server.get<FlagSummary[]>(`/api/flags?host=${name}&limit=10000`);
    expect(live.map(flagKey).sort()).toEqual(offline.flags.map(flagKey).sort());
    expect((await host(name))?.failed).toBeNull();
  };

  it('fails only the dead worker’s hosts, with the reason; the server and the other hosts go on', async () => {
    await streamSample('calm'); // worker 0
    const run = agent(server.url, ['--replay', heavy, '--speed', 'max', '--host', 'heavy']); // worker 1: fewest hosts
    const failed = await until(
      async () => {
        const h = await host('heavy');
        return h?.failed ? h : undefined;
      },
      60_000,
      'the heavy host to fail',
    );
    expect(failed.failed).toMatch(/memory/);
    expect(failed.ended).toBe(false);
    // Its agent is told why (it keeps its outbox and retries; stopped here).
    await until(
      async () =>
        (await server.get<{ rejected: Record<string, number> }>('/api/server')).rejected['agent-host-failed'] ? true : undefined,
      20_000,
      'the agent to be refused',
    );
    run.kill('SIGTERM');
    await run;

    // The dashboard shows the host failed, with the reason on its card.
    const browser = await launchBrowser();
    try {
      const { page, close } = await openDashboard(browser, `${server.url}/?token=${TOKEN}`);
      const card = page.locator('[data-testid="host-status"][data-host="heavy"]');
      await card.waitFor();
      await page.locator('[data-host="heavy"] [data-testid="host-failed"]').waitFor();
      expect(await card.getAttribute('data-state')).toBe('failed');
      expect(await card.locator('[data-testid="host-failed"]').textContent()).toMatch(/memory/);
      expect(await page.locator('[data-testid="host-status"][data-host="calm"]').getAttribute('data-state')).not.toBe('failed');
      await screenshot(page, 'host-failed');
      await close();
    } finally {
      await browser.close();
    }

    // The server lives: the other worker's host kept its flags, a new host is analyzed exactly.
    const calm = await server.get<FlagSummary[]>('/api/flags?host=calm&limit=10000');
    expect(calm.map(flagKey).sort()).toEqual(offline.flags.map(flagKey).sort());
    await streamSample('after');
    const text = await (await fetch(new URL('/metrics', server.url))).text();
    expect(metric(text, 'lifetrace_host_failed', 'host="heavy"')).toBe(1);
    expect(metric(text, 'lifetrace_host_failed', 'host="calm"')).toBe(0);
    expect(metric(text, 'lifetrace_worker_restarts', 'worker="1"')).toBe(1);
    expect(metric(text, 'lifetrace_worker_backlog_bytes', 'worker="0"')).toBe(0);
  }, 180_000);
});

describe('serve --workers 0 (the main thread) and --workers 2 give the same analysis', () => {
  it('three hosts streamed at once: the same flags, counts and events in both modes, all analyze’s', async () => {
    const offline = buildReport(await analyzeFile(SAMPLE));
    expect(offline.flags.length).toBeGreaterThan(0);
    const views: Record<string, { flags: string[]; events: number[] }> = {};
    for (const workers of ['0', '2']) {
      const server = await startServe(['--workers', workers], mkdtempSync(join(tmpdir(), `lifetrace-mode${workers}-`)));
      try {
        const hosts = ['a', 'b', 'c'];
        const runs = await Promise.all(hosts.map((h) => agent(server.url, ['--replay', SAMPLE, '--speed', 'max', '--host', h])));
        for (const r of runs) expect(r.exitCode, r.all).toBe(0);
        const ended = await until(
          async () => {
            const list = await server.get<HostView[]>('/api/hosts');
            return hosts.every((h) => list.find((v) => v.host === h)?.ended) ? list : undefined;
          },
          30_000,
          `the hosts to end (--workers ${workers})`,
        );
        const flags = (await server.get<FlagSummary[]>('/api/flags?limit=10000')).map((f) => `${f.host}|${flagKey(f)}`).sort();
        views[workers] = { flags, events: hosts.map((h) => ended.find((v) => v.host === h)!.events) };
        for (const h of hosts) {
          expect(flags.filter((f) => f.startsWith(`${h}|`)).map((f) => f.slice(h.length + 1))).toEqual(offline.flags.map(flagKey).sort());
        }
      } finally {
        await server.stop();
      }
    }
    expect(views['2']).toEqual(views['0']);
    expect(views['0']!.events).toEqual([offline.summary.events, offline.summary.events, offline.summary.events]);
  }, 180_000);
});
