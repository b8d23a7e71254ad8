/**
 * The fleet's stream read as captures (server/fleet/stream-ranges.ts, docs/fleet.md "Captures from
 * the stream"): a real nats-server (Debian's 2.9) filled by real `agent --nats --replay` processes,
 * read back with the `worker` user's permissions, directly and through a real server's REST API.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { printfNsecs, printfNsecsOf } from '../server/decode/envelope.js';
import { StreamRanges } from '../server/fleet/stream-ranges.js';
import { batchSubject, KIND_HEADER, STREAM } from '../server/fleet/subjects.js';
import { startServer, type RunningServer } from '../server/live/server.js';
import type { AnalysisReport } from '../server/report/build.js';
import { BATCH_HEAD, type CaptureInfo, type HostView, type StreamRun } from '../server/shared/wire.js';
import { generateCapture } from './bench/generate.js';
import { buildWeb, launchBrowser, openDashboard, screenshot } from './support/browser.js';
import { BIN, launch, until } from './support/live.js';
import { AGENT_PASS, connectAs, NatsServer, natsArgs } from './support/nats.js';

const root = join(import.meta.dirname, '..');
const SAMPLE = join(root, 'test', 'fixtures', 'sample.ljsonl.gz');
const TOKEN = 'ranges-token-0123456789abcdef';

function agent(nats: NatsServer, capture: string, host: string, user = 'agent', pass = AGENT_PASS) {
  return execa(
    process.execPath,
    [BIN, 'agent', '--nats', nats.url, '--nats-user', user, '--nats-pass', pass, '--replay', capture, '--speed', 'max', '--host', host],
    { reject: false, all: true, stdin: 'ignore' },
  );
}

async function analyzeJson(path: string): Promise<AnalysisReport> {
  const r = await execa(process.execPath, [BIN, 'analyze', '--json', path], { reject: false });
  expect(r.stderr).not.toMatch(/Error|error:/);
  return JSON.parse(r.stdout) as AnalysisReport;
}

const flagKeys = (r: AnalysisReport): string[] => r.flags.map((f) => `${f.rule}|${f.severity}|${f.count}|${f.objects.join(',')}`).sort();

async function collect(bytes: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of bytes) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/** The lines of a capture after its header. */
const bodyOf = (capture: Buffer): Buffer => capture.subarray(capture.indexOf(10) + 1);
const lines = (b: Buffer): string[] => b.toString('latin1').split('\n').slice(0, -1);

describe('the stream as captures: a real nats-server filled by agent --nats --replay', () => {
  const nats = new NatsServer();
  let reader: NatsConnection;
  let ranges: StreamRanges;
  let server: RunningServer;
  const dir = mkdtempSync(join(tmpdir(), 'lifetrace-ranges-'));
  const sample = gunzipSync(readFileSync(SAMPLE));

  const api = async (method: string, path: string, body?: unknown): Promise<Response> =>
    fetch(`http://127.0.0.1:${server.port}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  beforeAll(async () => {
    await nats.start();
    const r = await agent(nats, SAMPLE, 'db.7');
    expect(r.exitCode, r.all).toBe(0);
    // The dashboard's permissions: what serve --nats reads the stream with.
    reader = await connectAs(nats, 'dashboard');
    ranges = new StreamRanges(reader, printfNsecsOf);
    const started = await startServer({
      host: '127.0.0.1',
      port: 0,
      token: TOKEN,
      version: 't',
      capturesDir: join(dir, 'captures'),
      streams: ranges,
    });
    if (!started.ok) throw new Error(started.error);
    server = started.value;
  });
  afterAll(async () => {
    await server?.close();
    await reader?.close();
    await nats.kill();
  });

  const theRun = async (): Promise<StreamRun> => {
    const runs = await ranges.list();
    expect(runs).toHaveLength(1);
    return runs[0]!;
  };

  it('lists the run: host, sequence numbers, kernel times from its records, bytes, ended', async () => {
    const run = await theRun();
    const stored = (await (await jetstreamManager(reader)).streams.info(STREAM, { subjects_filter: batchSubject('db.7') })).state;
    const records = lines(bodyOf(sample))
      .map((l) => printfNsecs(l))
      .filter((t) => t !== undefined)
      .map((t) => BigInt(t));
    const base = (records[0]! / 1_000_000_000n) * 1_000_000_000n;
    const sorted = [...records].sort((a, b) => Number(a - b));
    const [min, max] = [sorted[0]!, sorted.at(-1)!];
    expect(run).toMatchObject({ host: 'db.7', mode: 'replay', first_seq: 1, missing: 0, ended: true, base_ns: String(base) });
    expect(run.last_seq).toBe(stored.messages - 2); // hello and end
    expect(run.bytes).toBe(bodyOf(sample).length);
    // The sample is one batch: its earliest and latest records are the run's.
    expect(run.first_s).toBe(Number(min - base) / 1e9);
    expect(run.last_s).toBe(Number(max - base) / 1e9);
  });

  it("the whole run reads back as the capture: its header, then its lines byte for byte; analyze's flags are the original's", async () => {
    const run = await theRun();
    const read = await ranges.read('db.7', run.run, {});
    if (!read.ok) throw new Error(read.error.message);
    const back = await collect(read.value.bytes);
    expect(bodyOf(back).equals(bodyOf(sample))).toBe(true);
    const header = JSON.parse(back.subarray(0, back.indexOf(10)).toString()) as Record<string, unknown>;
    const original = JSON.parse(sample.subarray(0, sample.indexOf(10)).toString()) as Record<string, unknown>;
    expect(header).toEqual({ ...original, host: 'db.7', replay_speed: 'max' }); // the agent's --host, and its replay's speed
    const path = join(dir, 'whole.ljsonl');
    writeFileSync(path, back);
    const [a, b] = [await analyzeJson(path), await analyzeJson(SAMPLE)];
    expect(flagKeys(a).length).toBeGreaterThan(0);
    expect(flagKeys(a)).toEqual(flagKeys(b));
    expect(a.summary.events).toBe(b.summary.events);
  });

  it('a time range holds only the records in it, every one of them, and analyze reads it', async () => {
    const run = await theRun();
    const span = run.last_s! - run.first_s!;
    const from_s = run.first_s! + span / 3;
    const to_s = run.first_s! + (2 * span) / 3;
    const read = await ranges.read('db.7', run.run, { from_s, to_s });
    if (!read.ok) throw new Error(read.error.message);
    const back = await collect(read.value.bytes);
    const base = BigInt(run.base_ns!);
    const inRange = (l: string): boolean => {
      const t = printfNsecs(l);
      if (t === undefined) return false;
      const s = Number(BigInt(t) - base) / 1e9;
      return s >= from_s - 1e-9 && s <= to_s + 1e-9;
    };
    const got = lines(bodyOf(back)).filter((l) => printfNsecs(l) !== undefined);
    expect(got.length).toBeGreaterThan(0);
    expect(got.every(inRange)).toBe(true);
    expect(got).toEqual(lines(bodyOf(sample)).filter(inRange)); // all of them, in the capture's order
    const path = join(dir, 'third.ljsonl');
    writeFileSync(path, back);
    const r = await execa(process.execPath, [BIN, 'analyze', '--json', path], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as AnalysisReport;
    expect(report.summary.input_error).toBeNull();
    expect(report.summary.events).toBeGreaterThan(0);
  });

  it('refuses an unknown host or run and a range that is not one', async () => {
    const run = await theRun();
    const no = await ranges.read('nobody', run.run, {});
    expect(no).toMatchObject({ ok: false, error: { kind: 'not-found' } });
    expect(await ranges.read('db.7', 'no-such-run', {})).toMatchObject({ ok: false, error: { kind: 'not-found' } });
    expect(await ranges.read('db.7', run.run, { from_s: 2, to_s: 1 })).toMatchObject({
      ok: false,
      error: { kind: 'bad-range', message: 'from_s is after to_s' },
    });
    expect(await ranges.read('db.7', run.run, { from_seq: 0 })).toMatchObject({ ok: false, error: { kind: 'bad-range' } });
  });

  it('REST: lists the runs, downloads a range, saves one into the library, which lists and replays it', async () => {
    const listed = await api('GET', '/api/streams');
    expect(listed.status).toBe(200);
    const runs = (await listed.json()) as StreamRun[];
    expect(runs.map((r) => r.host)).toEqual(['db.7']);
    const run = runs[0]!;
    const path = `/api/streams/${encodeURIComponent('db.7')}/${encodeURIComponent(run.run)}`;

    const whole = await api('GET', `${path}/capture`);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-disposition')).toMatch(/attachment; filename="db\.7-.*\.ljsonl"/);
    expect(bodyOf(Buffer.from(await whole.arrayBuffer())).equals(bodyOf(sample))).toBe(true);
    const part = await api('GET', `${path}/capture?from_s=${run.first_s}&to_s=${(run.first_s! + run.last_s!) / 2}`);
    expect(part.status).toBe(200);
    const partLines = lines(bodyOf(Buffer.from(await part.arrayBuffer())));
    expect(partLines.length).toBeGreaterThan(0);
    expect(partLines.length).toBeLessThan(lines(bodyOf(sample)).length);

    const saved = await api('POST', `${path}/save`, { name: 'db7-first-half.ljsonl.gz', to_s: (run.first_s! + run.last_s!) / 2 });
    expect(saved.status, await saved.clone().text()).toBe(201);
    expect(((await saved.json()) as CaptureInfo).name).toBe('db7-first-half.ljsonl.gz');
    const captures = (await (await api('GET', '/api/captures')).json()) as CaptureInfo[];
    expect(captures.map((c) => c.name)).toContain('db7-first-half.ljsonl.gz');
    const download = Buffer.from(await (await api('GET', '/api/captures/db7-first-half.ljsonl.gz')).arrayBuffer());
    expect(lines(bodyOf(gunzipSync(download)))).toEqual(partLines);
    // Never over an existing capture.
    const again = await api('POST', `${path}/save`, { name: 'db7-first-half.ljsonl.gz' });
    expect(again.status).toBe(409);

    const replay = await api('POST', '/api/replay', { capture: 'db7-first-half.ljsonl.gz', speed: 'max' });
    expect(replay.status, await replay.clone().text()).toBe(200);
    const { host } = (await replay.json()) as { host: string };
    const ended = await until(async () => {
      const hosts = (await (await api('GET', '/api/hosts')).json()) as HostView[];
      return hosts.find((h) => h.host === host && h.ended);
    });
    const savedPath = join(dir, 'saved.ljsonl.gz');
    writeFileSync(savedPath, download);
    expect(ended.events).toBe((await analyzeJson(savedPath)).summary.events);
    expect(ended.events).toBeGreaterThan(0);
  });

  it('REST: bad input answers 400 or 404 with a clear error, never a crash', async () => {
    const run = (await ranges.list())[0]!;
    const path = `/api/streams/db.7/${encodeURIComponent(run.run)}`;
    const cases: [string, string, unknown, number, RegExp][] = [
      ['GET', `/api/streams/nobody/${encodeURIComponent(run.run)}/capture`, undefined, 404, /no host nobody/],
      ['GET', '/api/streams/db.7/no-such-run/capture', undefined, 404, /no run no-such-run/],
      ['GET', `${path}/capture?from_s=5&to_s=1`, undefined, 400, /from_s is after to_s/],
      ['GET', `${path}/capture?from_s=soon`, undefined, 400, /from_s must be a number/],
      ['GET', `${path}/capture?from_seq=1.5`, undefined, 400, /from_seq must be a batch sequence number/],
      ['POST', `${path}/save`, { name: '../evil.ljsonl' }, 400, /capture name/],
      ['POST', `${path}/save`, { name: 'x.txt' }, 400, /capture name/],
      ['POST', `${path}/save`, {}, 400, /name is required/],
      ['POST', `${path}/save`, { name: 'ok.ljsonl', from_s: 'now' }, 400, /from_s must be a number/],
      ['POST', `${path}/save`, { name: 'ok.ljsonl', from_s: 3, to_s: 1 }, 400, /from_s is after to_s/],
      ['POST', '/api/streams/db.7/no-such-run/save', { name: 'ok.ljsonl' }, 404, /no run/],
    ];
    for (const [method, url, body, status, error] of cases) {
      const r = await api(method, url, body);
      expect(r.status, `${method} ${url}`).toBe(status);
      expect(((await r.json()) as { error: string }).error).toMatch(error);
    }
    expect(((await (await api('GET', '/api/captures')).json()) as CaptureInfo[]).map((c) => c.name)).not.toContain('ok.ljsonl');
    // Under the API's rules: a name that is not loopback's (DNS rebinding) is refused, as anywhere in the API.
    const foreign = await new Promise<number>((resolve, reject) =>
      request(`http://127.0.0.1:${server.port}/api/streams`, { headers: { host: 'evil.example' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on('error', reject)
        .end(),
    );
    expect(foreign).toBe(403);
    // The downloads and saves so far left no consumer behind (deleted with the worker's permissions).
    expect((await (await jetstreamManager(reader)).streams.info(STREAM)).state.consumer_count).toBe(0);
  });

  it('the dashboard: the captures panel lists the stream run, downloads a range and saves one into the library', async () => {
    buildWeb();
    const browser = await launchBrowser();
    try {
      const { page, errors, close } = await openDashboard(browser, `http://127.0.0.1:${server.port}/`);
      const run = (await ranges.list())[0]!;
      const row = page.getByTestId('stream-run').and(page.locator(`[data-host="db.7"][data-run="${run.run}"]`));
      await row.waitFor();
      await expect(page.getByTestId('captures-streams').isVisible()).resolves.toBe(true);
      await expect(row.getByTestId('stream-batches').textContent()).resolves.toBe(`1–${run.last_seq}`);
      await expect(row.getByTestId('stream-size').textContent()).resolves.toMatch(/B$/);
      const mid = (run.first_s! + run.last_s!) / 2;
      await row.getByTestId('stream-to').fill(String(mid));
      const href = await row.getByTestId('stream-download').getAttribute('href');
      expect(href).toBe(`/api/streams/db.7/${encodeURIComponent(run.run)}/capture?to_s=${mid}`);
      const [download] = await Promise.all([page.waitForEvent('download'), row.getByTestId('stream-download').click()]);
      const file = join(dir, 'browser-download.ljsonl');
      await download.saveAs(file);
      const expected = Buffer.from(await (await api('GET', href!)).arrayBuffer());
      expect(readFileSync(file).equals(expected)).toBe(true);

      await row.getByTestId('stream-name').fill('from-the-page.ljsonl.gz');
      await row.getByTestId('stream-save').click();
      await page.getByTestId('captures-message').filter({ hasText: 'saved from-the-page.ljsonl.gz' }).waitFor();
      await page.getByTestId('capture-row').and(page.locator('[data-name="from-the-page.ljsonl.gz"]')).waitFor();
      const saved = gunzipSync(Buffer.from(await (await api('GET', '/api/captures/from-the-page.ljsonl.gz')).arrayBuffer()));
      expect(bodyOf(saved).equals(bodyOf(expected))).toBe(true);
      // Saved again under the same name: refused, said on the page.
      await row.getByTestId('stream-save').click();
      await page.getByTestId('captures-message').filter({ hasText: 'exists already' }).waitFor();
      await row.getByTestId('stream-name').fill('bad name.txt');
      await row.getByTestId('stream-save').click();
      await page.getByTestId('captures-message').filter({ hasText: 'not saved' }).waitFor();
      await screenshot(page, 'captures-stream');
      // The 409 of the second save is the page's only console error (the browser logs a failed fetch).
      expect(errors.filter((e) => !/409/.test(e))).toEqual([]);
      await close();
    } finally {
      await browser.close();
    }
  });

  it('serve --nats (a real process, the dashboard user): lists the run, downloads a range, saves one into its library', async () => {
    const data = mkdtempSync(join(tmpdir(), 'lifetrace-ranges-serve-'));
    const { proc, url } = await launch(['serve', '--port', '0', '--data', data, ...natsArgs(nats, 'dashboard')]);
    try {
      const get = (path: string, init?: RequestInit) => fetch(new URL(path, url), init);
      const runs = (await (await get('/api/streams')).json()) as StreamRun[];
      expect(runs.map((r) => [r.host, r.ended])).toEqual([['db.7', true]]);
      const path = `/api/streams/db.7/${encodeURIComponent(runs[0]!.run)}`;
      const whole = await get(`${path}/capture`);
      expect(whole.status).toBe(200);
      expect(bodyOf(Buffer.from(await whole.arrayBuffer())).equals(bodyOf(sample))).toBe(true);
      const saved = await get(`${path}/save`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'from-serve.ljsonl', from_seq: 1 }),
      });
      expect(saved.status, await saved.clone().text()).toBe(201);
      const captures = (await (await get('/api/captures')).json()) as CaptureInfo[];
      expect(captures.map((c) => c.name)).toEqual(['from-serve.ljsonl']);
      expect(bodyOf(readFileSync(join(data, 'captures', 'from-serve.ljsonl'))).equals(bodyOf(sample))).toBe(true);
    } finally {
      proc.kill('SIGTERM');
      await proc;
    }
  });

  it('the broker gone: 503 with why, and the rest of the API answers', async () => {
    await nats.kill();
    const r = await api('GET', '/api/streams');
    expect(r.status).toBe(503);
    expect(((await r.json()) as { error: string }).error).toMatch(/the NATS stream cannot be read now/);
    expect((await api('GET', '/api/captures')).status).toBe(200);
  });
});

/** A broker whose one user may do anything: the test cuts a batch out of the stream as retention would. */
const ADMIN_PASS = 'admin-pass-0123456789';
const ADMIN_CONFIG = `max_payload: 8MB\nauthorization { users: [ { user: admin, password: "${ADMIN_PASS}" } ] }\n`;

describe('the stream as captures: many batches, two runs of a host, a batch cut from the stream', () => {
  const nats = new NatsServer(ADMIN_CONFIG);
  let nc: NatsConnection;
  let ranges: StreamRanges;
  let capture: Buffer;
  const dir = mkdtempSync(join(tmpdir(), 'lifetrace-ranges-'));
  const path = join(dir, 'gen.ljsonl');

  beforeAll(async () => {
    await nats.start();
    // Three copies of a generated trace 15 s of kernel time apart: a read from a time skips batches.
    await generateCapture(path, 20_000, 5);
    const one = readFileSync(path);
    const body = bodyOf(one).toString('latin1');
    const later = (k: number): string =>
      body.replace(/^(\{"type": "printf", "data": "[^"\\]*\\t)(\d+)(\\t)/gm, (_m, a: string, t: string, b: string) => {
        return `${a}${BigInt(t) + BigInt(k) * 15_000_000_000n}${b}`;
      });
    capture = Buffer.concat([one.subarray(0, one.indexOf(10) + 1), ...[0, 1, 2].map((k) => Buffer.from(later(k), 'latin1'))]);
    writeFileSync(path, capture);
    for (let i = 0; i < 2; i++) {
      const r = await agent(nats, path, 'gen', 'admin', ADMIN_PASS);
      expect(r.exitCode, r.all).toBe(0);
    }
    nc = await connect({ servers: `127.0.0.1:${nats.port}`, user: 'admin', pass: ADMIN_PASS });
    ranges = new StreamRanges(nc, printfNsecsOf);
  });
  afterAll(async () => {
    await nc?.close();
    await nats.kill();
  });

  const read = async (run: string, range: Parameters<StreamRanges['read']>[2]): Promise<Buffer> => {
    const r = await ranges.read('gen', run, range);
    if (!r.ok) throw new Error(r.error.message);
    return collect(r.value.bytes);
  };

  it('lists both runs of the host, in order, each whole', async () => {
    const runs = await ranges.list();
    expect(runs).toHaveLength(2);
    expect(runs[0]!.run).not.toBe(runs[1]!.run);
    for (const r of runs) {
      expect(r).toMatchObject({ host: 'gen', first_seq: 1, missing: 0, ended: true, bytes: bodyOf(capture).length });
      expect(r.last_seq).toBeGreaterThan(10);
    }
  });

  it('batch ranges: the run cut in two by sequence numbers is the whole, byte for byte', async () => {
    const run = (await ranges.list())[1]!;
    const half = Math.floor(run.last_seq / 2);
    const first = await read(run.run, { to_seq: half });
    const second = await read(run.run, { from_seq: half + 1 });
    expect(first.subarray(0, first.indexOf(10)).equals(second.subarray(0, second.indexOf(10)))).toBe(true);
    expect(Buffer.concat([bodyOf(first), bodyOf(second)]).equals(bodyOf(capture))).toBe(true);
    expect(bodyOf(await read(run.run, { from_seq: run.last_seq + 1 })).length).toBe(0);
  });

  // Seconds from the run's first record: each copy of the trace lasts some 60 ms, the next 15 s later.
  it.each([
    [0, 0.01, true],
    [15.01, 15.03, true],
    [30.02, 31, true],
    [0.03, 15.02, true],
    [5, 10, false],
  ])('a time range across many batches holds exactly the records in it, in order (%s s to %s s)', async (a, b, some) => {
    const run = (await ranges.list())[0]!;
    expect(run.last_s! - run.first_s!).toBeGreaterThan(30);
    const from_s = run.first_s! + a;
    const to_s = run.first_s! + b;
    const base = BigInt(run.base_ns!);
    const inRange = (l: string): boolean => {
      const t = printfNsecs(l);
      const s = t === undefined ? Number.NaN : Number(BigInt(t) - base) / 1e9;
      return s >= from_s - 1e-9 && s <= to_s + 1e-9;
    };
    const read0 = ranges.batchesRead;
    const back = lines(bodyOf(await read(run.run, { from_s, to_s }))).filter((l) => printfNsecs(l) !== undefined);
    // A part of the trace is a third of its batches: a range within one (or none) reads about that many, not the run.
    if (b - a < 1) expect(ranges.batchesRead - read0).toBeLessThanOrEqual(Math.ceil(run.last_seq / 3) + 2);
    expect(back.length > 0).toBe(some);
    expect(back).toEqual(lines(bodyOf(capture)).filter(inRange));
  });

  it('a batch cut from the stream is a lifetrace_gap where it was, never glued over; analyze counts it as a loss window', async () => {
    const run = (await ranges.list())[1]!;
    // Where batch 5 of the second run is, by its message id (headers only).
    const consumer = await jetstream(nc).consumers.get(STREAM, { filter_subjects: batchSubject('gen'), headers_only: true });
    let at = 0;
    for (;;) {
      const m = await consumer.next({ expires: 1000 });
      if (m === null) break;
      if (m.headers?.get('Nats-Msg-Id') === `${run.run}:5`) at = m.seq;
    }
    await consumer.delete();
    expect(at).toBeGreaterThan(0);
    const jsm = await jetstreamManager(nc);
    const cut = Buffer.from((await jsm.streams.getMessage(STREAM, { seq: at }))!.data.subarray(BATCH_HEAD));
    expect(await jsm.streams.deleteMessage(STREAM, at)).toBe(true);

    expect((await ranges.list())[1]).toMatchObject({ run: run.run, missing: 1, first_seq: 1, last_seq: run.last_seq });
    const back = bodyOf(await read(run.run, {}));
    const gap = lines(back).filter((l) => l.includes('"lifetrace_gap"'));
    expect(gap).toHaveLength(1);
    expect(gap[0]).toContain(`batches 5 to 5 of run ${run.run} are not on the stream`);
    // Everything else is the capture without that batch, byte for byte, the gap where it was.
    const at5 = bodyOf(capture).indexOf(cut);
    const gapLine = Buffer.from(`${gap[0]}\n`, 'latin1');
    expect(back.equals(Buffer.concat([bodyOf(capture).subarray(0, at5), gapLine, bodyOf(capture).subarray(at5 + cut.length)]))).toBe(true);
    const file = join(dir, 'cut.ljsonl');
    writeFileSync(file, Buffer.concat([capture.subarray(0, capture.indexOf(10) + 1), back]));
    const report = await analyzeJson(file);
    expect(report.loss_windows.some((w) => w.reason?.includes('batches 5 to 5'))).toBe(true);
    // A range that starts after the cut knows nothing of it; one across it says it.
    expect(bodyOf(await read(run.run, { from_seq: 6 })).includes('lifetrace_gap')).toBe(false);
    expect(bodyOf(await read(run.run, { from_seq: 4, to_seq: 6 })).includes('lifetrace_gap')).toBe(true);
    expect(bodyOf(await read(run.run, { from_seq: 5, to_seq: 5 })).toString()).toContain('batches 5 to 5');
  });

  it('a batch stored twice (resent after the duplicate window) is listed and read once', async () => {
    const run = (await ranges.list())[0]!;
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(STREAM);
    await jsm.streams.update(STREAM, { ...info.config, duplicate_window: 100_000_000 }); // 100 ms (the least): the window has passed
    await new Promise((r) => setTimeout(r, 300));
    const second = await jsm.streams.getMessage(STREAM, { seq: info.state.first_seq + 2 }); // batch 2 of the first run
    expect(second!.header.get('Nats-Msg-Id')).toBe(`${run.run}:2`);
    const h = headers();
    h.set(KIND_HEADER, 'batch');
    const ack = await jetstream(nc).publish(batchSubject('gen'), second!.data, { msgID: `${run.run}:2`, headers: h });
    expect(ack.duplicate).toBe(false);
    expect((await ranges.list())[0]).toMatchObject({ run: run.run, missing: 0, first_seq: 1, last_seq: run.last_seq, bytes: run.bytes });
    expect(bodyOf(await read(run.run, {})).equals(bodyOf(capture))).toBe(true);
  });

  it('a run whose hello is not one (junk published on a subject) is not listed, and reading it says why; the others list', async () => {
    const js = jetstream(nc);
    const publish = (id: string, kind: string, data: string) => {
      const h = headers();
      h.set(KIND_HEADER, kind);
      return js.publish(batchSubject('junk'), data, { msgID: id, headers: h });
    };
    await publish('notjson:hello', 'hello', 'not json {');
    await publish('noheader:hello', 'hello', JSON.stringify({ type: 'hello', run: 'noheader', host: 'junk', header: { format: 'other' } }));
    const runs = await ranges.list();
    expect(runs.map((r) => r.host)).toEqual(['gen', 'gen']);
    expect(await ranges.read('junk', 'notjson', {})).toMatchObject({
      ok: false,
      error: { kind: 'not-found', message: 'run notjson of host junk cannot be read as a capture: its hello is not an agent hello' },
    });
    expect(await ranges.read('junk', 'noheader', {})).toMatchObject({
      ok: false,
      error: {
        kind: 'not-found',
        message: expect.stringMatching(/capture header is not one this lifetrace reads: unknown format "other"/),
      },
    });
  });

  it('reads leave no consumer behind, a download abandoned part way included', async () => {
    const run = (await ranges.list())[0]!;
    const r = await ranges.read('gen', run.run, {});
    if (!r.ok) throw new Error(r.error.message);
    for await (const _chunk of r.value.bytes) break; // the header only: the client went away
    const it = (await ranges.read('gen', run.run, { from_seq: 3 })) as { ok: true; value: { bytes: AsyncIterable<Uint8Array> } };
    const iter = it.value.bytes[Symbol.asyncIterator]();
    await iter.next();
    await iter.next(); // a batch read: its consumer exists
    await iter.return?.();
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info(STREAM)).state.consumer_count).toBe(0);
  });
});
