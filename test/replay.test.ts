/**
 * Captures on the server and replays with controls, through real processes and HTTP: recording a
 * live stream into the library, download, upload, delete, names that try to escape, and
 * `lifetrace replay` giving exactly the flags of `lifetrace analyze`.
 */
import { readFileSync, mkdtempSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CaptureInfo, FlagSummary, HostView, ReplayView } from '../server/shared/wire.js';
import type { AnalysisReport } from '../server/report/build.js';
import { agent, BIN, launch, startServe, until, type ServerProcess } from './support/live.js';

const root = join(import.meta.dirname, '..');
const SAMPLE = join(root, 'test', 'fixtures', 'sample.ljsonl.gz');
const flagKey = (f: { rule: string; severity: string; count: number; objects: string[] }): string =>
  `${f.rule}|${f.severity}|${f.count}|${f.objects.join(',')}`;

async function analyzeJson(path: string): Promise<AnalysisReport> {
  const r = await execa(process.execPath, [BIN, 'analyze', '--json', path], { reject: false });
  return JSON.parse(r.stdout) as AnalysisReport;
}

async function call<T>(s: ServerProcess, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const r = await fetch(new URL(path, s.url), {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: (text ? JSON.parse(text) : undefined) as T };
}

const replayState = async (s: ServerProcess, host: string): Promise<ReplayView> =>
  (await s.get<HostView[]>('/api/hosts')).find((h) => h.host === host)!.replay!;

describe('the capture library', () => {
  let server: ServerProcess;
  let data: string;
  beforeAll(async () => {
    data = mkdtempSync(join(tmpdir(), 'lifetrace-lib-'));
    server = await startServe([], data);
  });
  afterAll(async () => server?.stop());

  it("records a live stream, lists it, downloads it, replays it from the library with analyze's flags, and deletes it", async () => {
    // A slow stream, so that recording starts before it ends.
    const run = agent(server.url, ['--replay', SAMPLE, '--speed', '5', '--host', 'rec']);
    await until(async () => (await server.get<HostView[]>('/api/hosts')).find((h) => h.host === 'rec'), 10_000, 'host rec');
    const started = await call<{ recording: { host: string; name: string }[] }>(server, 'POST', '/api/captures/record', { host: 'rec' });
    expect(started.status).toBe(200);
    const name = started.body.recording[0]!.name;
    expect(name).toMatch(/^rec-\d{4}-\d{2}-\d{2}T\d{6}\.ljsonl\.gz$/);
    expect((await server.get<HostView[]>('/api/hosts')).find((h) => h.host === 'rec')!.recording!.name).toBe(name);
    expect((await run).exitCode).toBe(0);
    // The recording ends with the stream; stopping it again is harmless.
    await until(
      async () => (await server.get<CaptureInfo[]>('/api/captures')).find((c) => c.name === name && !c.recording),
      10_000,
      'the recording to end with the stream',
    );
    const stopped = await call<{ stopped: string[] }>(server, 'POST', '/api/captures/stop', { host: 'rec' });
    expect(stopped.body.stopped).toEqual([]);

    const list = await server.get<CaptureInfo[]>('/api/captures');
    expect(list.map((c) => c.name)).toContain(name);
    const download = await fetch(new URL(`/api/captures/${name}`, server.url));
    expect(download.headers.get('content-disposition')).toContain(name);
    const lines = gunzipSync(Buffer.from(await download.arrayBuffer()))
      .toString()
      .split('\n');
    expect(JSON.parse(lines[0]!)).toMatchObject({ format: 'lifetrace-capture', kernel: '6.1.0-56-amd64' });
    expect(lines.length).toBeGreaterThan(100);

    const file = join(data, 'captures', name);
    const offline = await analyzeJson(file);
    const { body } = await call<{ host: string }>(server, 'POST', '/api/replay', { capture: name, speed: 'max' });
    const replayed = await until(
      async () => ((await replayState(server, body.host)).finished ? true : undefined),
      20_000,
      'the replay to finish',
    );
    expect(replayed).toBe(true);
    const flags = await server.get<FlagSummary[]>(`/api/flags?host=${body.host}&limit=10000`);
    expect(flags.map(flagKey).sort()).toEqual(offline.flags.map(flagKey).sort());

    expect((await call(server, 'DELETE', `/api/captures/${name}`)).status).toBe(204);
    expect(existsSync(file)).toBe(false);
    expect((await call(server, 'DELETE', `/api/captures/${name}`)).status).toBe(404);
  }, 60_000);

  it('a recording ends when its host starts a new run (a restarted agent), with what it had', async () => {
    const first = agent(server.url, ['--replay', SAMPLE, '--speed', '1', '--host', 'rerun']);
    await until(
      async () => (await server.get<HostView[]>('/api/hosts')).find((h) => h.host === 'rerun' && h.events > 0),
      10_000,
      'host rerun',
    );
    const { body } = await call<{ recording: { name: string }[] }>(server, 'POST', '/api/captures/record', { host: 'rerun' });
    const name = body.recording[0]!.name;
    const header = (await server.get<HostView[]>('/api/hosts')).find((h) => h.host === 'rerun')!.recording!.bytes;
    await until(
      async () =>
        (await server.get<HostView[]>('/api/hosts')).find((h) => h.host === 'rerun')!.recording!.bytes > header ? true : undefined,
      10_000,
      'lines recorded',
    );
    first.kill('SIGKILL');
    await first;
    const second = await agent(server.url, ['--replay', SAMPLE, '--speed', 'max', '--host', 'rerun']);
    expect(second.exitCode, second.all).toBe(0);
    const c = await until(
      async () => (await server.get<CaptureInfo[]>('/api/captures')).find((x) => x.name === name && !x.recording),
      10_000,
      'the old recording to end',
    );
    expect(c.bytes).toBeGreaterThan(100);
    const lines = gunzipSync(readFileSync(join(data, 'captures', name)))
      .toString()
      .trim()
      .split('\n');
    expect(JSON.parse(lines[0]!)).toMatchObject({ format: 'lifetrace-capture' });
    expect(lines.length).toBeGreaterThan(2);
    expect((await call(server, 'DELETE', `/api/captures/${name}`)).status).toBe(204);
  }, 30_000);

  it('takes uploads; no capture name reaches outside the library', async () => {
    const up = await fetch(new URL('/api/captures/uploaded.ljsonl.gz', server.url), {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: readFileSync(SAMPLE),
    });
    expect(up.status).toBe(201);
    expect(readFileSync(join(data, 'captures', 'uploaded.ljsonl.gz'))).toEqual(readFileSync(SAMPLE));

    const outside = join(data, 'secret.ljsonl');
    writeFileSync(outside, 'keep me');
    for (const name of [
      '../secret.ljsonl',
      '..%2Fsecret.ljsonl',
      '%2E%2E%2Fsecret.ljsonl',
      '.hidden.ljsonl',
      'a/b.ljsonl',
      'x.txt',
      '/etc/passwd',
    ]) {
      const enc = name.includes('%') ? name : encodeURIComponent(name);
      const del = await call(server, 'DELETE', `/api/captures/${enc}`);
      expect([400, 404]).toContain(del.status);
      const put = await fetch(new URL(`/api/captures/${enc}`, server.url), {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream' },
        body: 'x',
      });
      expect([400, 404]).toContain(put.status);
      expect((await call(server, 'POST', '/api/replay', { capture: name })).status).toBe(400);
    }
    expect(readFileSync(outside, 'utf8')).toBe('keep me');
    expect(readdirSync(join(data, 'captures')).sort()).toEqual(['uploaded.ljsonl.gz']);
    // An upload under an existing name does not overwrite it: a conflict.
    const again = await fetch(new URL('/api/captures/uploaded.ljsonl.gz', server.url), {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: 'x',
    });
    expect(again.status).toBe(409);
    expect(readFileSync(join(data, 'captures', 'uploaded.ljsonl.gz'))).toEqual(readFileSync(SAMPLE));
    // A state change from a foreign page is refused.
    const csrf = await fetch(new URL('/api/captures/record', server.url), {
      method: 'POST',
      headers: { 'content-type': 'text/plain', origin: 'http://evil.example' },
      body: '{}',
    });
    expect(csrf.status).toBe(403);
  });
});

describe('lifetrace replay', () => {
  it("replays with analyze's flags; pause, seek back, next flag", async () => {
    const { proc, url } = await launch([
      'replay',
      SAMPLE,
      '--port',
      '0',
      '--speed',
      '2',
      '--data',
      mkdtempSync(join(tmpdir(), 'lt-replay-')),
    ]);
    try {
      const s = { url, get: async <T>(p: string) => (await (await fetch(new URL(p, url))).json()) as T } as ServerProcess;
      const offline = await analyzeJson(SAMPLE);
      const host = 'sample';
      const first = await replayState(s, host);
      expect(first).toMatchObject({ capture: 'sample.ljsonl.gz', playing: true, speed: 2 });
      expect(first.flags_s.length).toBe(offline.flags.length);

      const paused = (await call<ReplayView>(s, 'POST', `/api/replay/${host}`, { action: 'pause' })).body;
      await new Promise((r) => setTimeout(r, 400));
      expect((await replayState(s, host)).position_s).toBe(paused.position_s);

      // The next flag: the replay stops just past the record that raises it, and it is raised. A
      // flag's own time can be earlier than that record (a close that a later event reveals).
      const shown = new Set((await s.get<FlagSummary[]>(`/api/flags?host=${host}&limit=10000`)).map((f) => f.id));
      const next = (await call<ReplayView>(s, 'POST', `/api/replay/${host}`, { action: 'next-flag' })).body;
      const target = first.flags_s.find((t) => t > paused.position_s)!;
      expect(next.playing).toBe(false);
      // Exactly there: every record up to the one that raises it analyzed (the new flag is in), none after.
      expect(next.position_s).toBeCloseTo(target, 6);
      const now = await s.get<FlagSummary[]>(`/api/flags?host=${host}&limit=10000`);
      expect(now.filter((f) => !shown.has(f.id)).length).toBeGreaterThan(0);
      expect(now.length).toBe(first.flags_s.filter((t) => t <= target).length);
      for (const f of now) expect(f.time_s).toBeLessThanOrEqual(next.position_s);

      // Seeking back starts the analysis over: flags after the target are gone.
      const back = (await call<ReplayView>(s, 'POST', `/api/replay/${host}`, { action: 'seek', to_s: first.start_s })).body;
      expect(back.position_s).toBeLessThan(target);
      expect((await s.get<FlagSummary[]>(`/api/flags?host=${host}`)).filter((f) => f.time_s > back.position_s + 0.01)).toEqual([]);

      // To the end at full speed: exactly analyze's flags.
      await call(s, 'POST', `/api/replay/${host}`, { action: 'speed', speed: 'max' });
      await call(s, 'POST', `/api/replay/${host}`, { action: 'play' });
      await until(async () => ((await replayState(s, host)).finished ? true : undefined), 20_000, 'the end');
      const flags = await s.get<FlagSummary[]>(`/api/flags?host=${host}&limit=10000`);
      expect(flags.map(flagKey).sort()).toEqual(offline.flags.map(flagKey).sort());
      expect((await call(s, 'POST', `/api/replay/${host}`, { action: 'speed', speed: 1000 })).status).toBe(400);
      expect((await call(s, 'POST', `/api/replay/nohost`, { action: 'play' })).status).toBe(404);
    } finally {
      proc.kill('SIGINT');
      expect((await proc).exitCode).toBe(0);
    }
  }, 60_000);

  it('a missing capture is a usage error; a truncated one replays up to where it breaks, and says where', async () => {
    const r = await execa(process.execPath, [BIN, 'replay', '/nonexistent.ljsonl.gz', '--port', '0'], { reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/no such capture/);

    const dir = mkdtempSync(join(tmpdir(), 'lt-trunc-'));
    const whole = readFileSync(SAMPLE);
    const cut = join(dir, 'cut.ljsonl.gz');
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length * 0.6)));
    const offline = await analyzeJson(cut);
    expect(offline.summary.input_error).toMatch(/reading stopped after line \d+/);
    const { proc, url, output } = await launch(
      ['replay', cut, '--port', '0', '--speed', 'max', '--data', dir],
      /replaying what comes before/,
    );
    try {
      expect(output()).toMatch(/reading stopped after line \d+/);
      const s = { url, get: async <T>(p: string) => (await (await fetch(new URL(p, url))).json()) as T } as ServerProcess;
      const view = await until(
        async () => {
          const v = await replayState(s, 'cut');
          return v.finished ? v : undefined;
        },
        20_000,
        'the end',
      );
      expect(view.error).toMatch(/line \d+/);
      const flags = await s.get<FlagSummary[]>('/api/flags?host=cut&limit=10000');
      expect(flags.map(flagKey).sort()).toEqual(offline.flags.map(flagKey).sort());
      expect(flags.length).toBeGreaterThan(0);
    } finally {
      proc.kill('SIGINT');
      await proc;
    }
  });
});
