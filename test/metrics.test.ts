/**
 * `GET /metrics` (Prometheus' text format) on the real server: after a real agent streamed the
 * bundled sample, the counters say what `lifetrace analyze` says of it; refusals are counted by
 * reason; the token rules are the API's.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeFile } from '../server/analyze/pipeline.js';
import { buildReport, type AnalysisReport } from '../server/report/build.js';
import type { HostView } from '../server/shared/wire.js';
import { SAMPLE } from './support/browser.js';
import { agent, launch, startServe, TOKEN, until, type ServerProcess } from './support/live.js';
import { samples, sum } from './support/prometheus.js';

describe('GET /metrics', () => {
  let server: ServerProcess;
  let offline: AnalysisReport;

  beforeAll(async () => {
    server = await startServe([], mkdtempSync(join(tmpdir(), 'lifetrace-metrics-')));
    offline = buildReport(await analyzeFile(SAMPLE));
    const r = await agent(server.url, ['--replay', SAMPLE, '--speed', 'max', '--host', 'metrics-host']);
    expect(r.exitCode, r.all).toBe(0);
    await until(
      async () => (await server.get<HostView[]>('/api/hosts')).find((h) => h.host === 'metrics-host' && h.ended),
      20_000,
      'the stream to end',
    );
  }, 60_000);
  afterAll(async () => server?.stop());

  it('counts what analyze finds in the same capture: events, losses, flags by rule and severity', async () => {
    const res = await fetch(new URL('/metrics', server.url));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const host = (xs: { labels: Record<string, string>; value: number }[]) => xs.filter((x) => x.labels.host === 'metrics-host');
    expect(host(samples(text, 'lifetrace_events_total'))).toEqual([{ labels: { host: 'metrics-host' }, value: offline.summary.events }]);
    expect(sum(host(samples(text, 'lifetrace_lost_events_total')))).toBe(offline.lost_events);
    expect(sum(host(samples(text, 'lifetrace_anomalies_total')))).toBe(
      Object.values(offline.summary.anomaly_counts).reduce((a, b) => a + b, 0),
    );
    const flags = host(samples(text, 'lifetrace_flags_total'));
    const want = new Map<string, number>();
    for (const f of offline.flags) want.set(`${f.rule}|${f.severity}`, (want.get(`${f.rule}|${f.severity}`) ?? 0) + f.count);
    expect(new Map(flags.map((x) => [`${x.labels.rule}|${x.labels.severity}`, x.value]))).toEqual(want);
    expect(want.size).toBeGreaterThan(3);
    expect(samples(text, 'lifetrace_hosts')).toEqual([{ labels: {}, value: 1 }]);
    expect(samples(text, 'lifetrace_storage_ok')).toEqual([{ labels: {}, value: 1 }]);
    // The process' own figures come along (prom-client's defaults).
    expect(samples(text, 'lifetrace_process_resident_memory_bytes')[0]!.value).toBeGreaterThan(0);
  });

  it('counts refusals by reason', async () => {
    const before = sum(
      samples(await (await fetch(new URL('/metrics', server.url))).text(), 'lifetrace_refused_total').filter(
        (x) => x.labels.reason === 'http-cross-origin',
      ),
    );
    const refused = await fetch(new URL('/api/captures/record', server.url), {
      method: 'POST',
      headers: { origin: 'http://evil.example', 'content-type': 'application/json' },
      body: '{}',
    });
    expect(refused.status).toBe(403);
    const text = await (await fetch(new URL('/metrics', server.url))).text();
    expect(sum(samples(text, 'lifetrace_refused_total').filter((x) => x.labels.reason === 'http-cross-origin'))).toBe(before + 1);
  });

  it('off loopback, a scrape needs the token, as the API does', async () => {
    const { proc, url } = await launch([
      'serve',
      '--host',
      '0.0.0.0',
      '--port',
      '0',
      '--token',
      TOKEN,
      '--data',
      mkdtempSync(join(tmpdir(), 'lifetrace-metrics-')),
    ]);
    try {
      const at = new URL('/metrics', `http://127.0.0.1:${new URL(url).port}/`);
      expect((await fetch(at)).status).toBe(401);
      expect((await fetch(at, { headers: { authorization: 'Bearer wrong' } })).status).toBe(403);
      const ok = await fetch(at, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(ok.status).toBe(200);
      expect(samples(await ok.text(), 'lifetrace_hosts')).toEqual([{ labels: {}, value: 0 }]);
    } finally {
      proc.kill('SIGTERM');
      await proc;
    }
  });
});
