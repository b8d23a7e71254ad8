/**
 * Issue 11, the server's edge: what enters through its sockets, cookies, hellos, feeds, replays and
 * command line, against the real `lifetrace serve` process. Each case is named after the finding
 * it reproduces; after each, the process is alive and answers.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import fc from 'fast-check';
import WebSocket from 'ws';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeBatchHead, type FlagSummary, type HostView } from '../server/shared/wire.js';
import { cookieValue } from '../server/live/auth.js';
import { checkHello, MAX_HEADER_CHARS, MAX_HEADER_VALUES } from '../server/live/hello.js';
import { agent, BIN, launch, startServe, TOKEN, until, type ServerProcess } from './support/live.js';

const root = join(import.meta.dirname, '..');
const SAMPLE = join(root, 'test', 'fixtures', 'sample.ljsonl.gz');

type Rejected = Record<string, number>;
const rejected = async (s: ServerProcess): Promise<Rejected> => (await s.get<{ rejected: Rejected }>('/api/server')).rejected;

/** The server's resident memory, from /proc (bytes). */
function rss(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

/** Opens a WebSocket; resolves with 101 when it opened, or the HTTP status it was refused with. */
function opened(ws: WebSocket): Promise<number> {
  return new Promise((r) => {
    ws.on('open', () => r(101));
    ws.on('unexpected-response', (_q, res) => r(res.statusCode ?? 0));
    ws.on('error', () => r(-1));
  });
}

/** The server is alive and answers its API. */
async function answers(s: ServerProcess): Promise<void> {
  expect(s.proc.exitCode).toBeNull();
  expect((await fetch(new URL('/api/server', s.url))).status).toBe(200);
}

const HEADER = { format: 'lifetrace-capture', version: 1, families: {} };

const hello = (host: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  type: 'hello',
  protocol: 1,
  run: `run-${host}`,
  host,
  mode: 'live',
  header: HEADER,
  rules: [],
  ...extra,
});

/** Whether the server takes an agent's hello (its answer: welcome, or why not). */
async function welcomes(s: ServerProcess, host: string): Promise<string> {
  const ws = new WebSocket(`${s.url.replace('http', 'ws')}ws/agent`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(await opened(ws)).toBe(101);
  const answer = new Promise<string>((r) => ws.once('message', (d) => r(String(d))));
  ws.send(JSON.stringify(hello(host)));
  const m = JSON.parse(await answer) as { type: string; message?: string };
  ws.close();
  return m.type === 'welcome' ? 'welcome' : (m.message ?? m.type);
}

/** An agent socket that says `message` and resolves with the error the server answered and the close code. */
async function agentSays(s: ServerProcess, message: string | Buffer): Promise<{ code: number; error: string }> {
  const ws = new WebSocket(`${s.url.replace('http', 'ws')}ws/agent`, {
    headers: { authorization: `Bearer ${TOKEN}` },
    maxPayload: 1 << 20,
  });
  let error = '';
  ws.on('message', (d) => {
    const m = JSON.parse(String(d)) as { type: string; message?: string };
    if (m.type === 'error') error = m.message!;
  });
  const closed = new Promise<number>((r) => ws.on('close', (c) => r(c)));
  ws.on('error', () => {});
  expect(await opened(ws)).toBe(101);
  ws.send(message);
  return { code: await closed, error };
}

describe('issue 11, edge: hostile clients against a running server', () => {
  // A server of its own for each finding, so that each one shows on its own.
  let s: ServerProcess;
  beforeEach(async () => {
    s = await startServe([], mkdtempSync(join(tmpdir(), 'lifetrace-edge-')));
  });
  afterEach(async () => s?.stop());

  it('finding 1: a cookie lifetrace_token=%zz on /ws/agent, /ws/feed and HTTP is no token, never a crash', async () => {
    const ws = s.url.replace('http', 'ws');
    const cookie = 'lifetrace_token=%zz';
    expect(await opened(new WebSocket(`${ws}ws/agent`, { headers: { cookie } }))).toBe(401);
    // On loopback a browser needs no token: the feed opens, the cookie ignored.
    const feed = new WebSocket(`${ws}ws/feed`, { headers: { cookie }, origin: s.url.replace(/\/$/, '') });
    expect(await opened(feed)).toBe(101);
    feed.close();
    expect((await fetch(new URL('/api/hosts', s.url), { headers: { cookie } })).status).toBe(200);
    // Its class: an upgrade whose URL does not parse (no token needed either).
    const port = Number(new URL(s.url).port);
    const raw = connect(port, '127.0.0.1');
    const status = new Promise<string>((r) => raw.once('data', (d) => r(String(d).split('\r\n')[0]!)));
    raw.on('error', () => {});
    raw.write(
      [
        'GET //[ HTTP/1.1',
        `Host: 127.0.0.1:${port}`,
        'Upgrade: websocket',
        'Connection: Upgrade',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Version: 13',
        '',
        '',
      ].join('\r\n'),
    );
    expect(await status).toBe('HTTP/1.1 400 Bad Request');
    raw.destroy();
    expect((await rejected(s))['upgrade-bad-url']).toBe(1);
    await answers(s);
  });

  it('finding 2: a hello whose header nests 100k levels (600 KB), or deeper than the bound within the size, is refused', async () => {
    const deep = (n: number): string => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
    const huge = `{"type":"hello","protocol":1,"run":"r","host":"deep","mode":"live","rules":[],"header":${deep(100_000)}}`;
    expect(huge.length).toBeGreaterThan(600_000);
    expect(await agentSays(s, huge)).toEqual({ code: 1008, error: expect.stringMatching(/text frame holds .* at most/) as string });
    const within = `{"type":"hello","protocol":1,"run":"r","host":"deep","mode":"live","rules":[],"header":${deep(40_000)}}`;
    expect(await agentSays(s, within)).toEqual({ code: 1008, error: expect.stringMatching(/nests deeper than/) as string });
    expect((await rejected(s))['agent-oversized-message']).toBeGreaterThanOrEqual(1);
    expect((await s.get<HostView[]>('/api/hosts')).some((h) => h.host === 'deep')).toBe(false);
    await answers(s);
  });

  it('finding 3: hellos with 1,000 rule ids of 31 KB over 18 hosts are refused; every string and count in a hello is bounded', async () => {
    const before = rss(s.proc.pid!);
    const longIds = Array.from({ length: 1000 }, (_, i) => ({ id: `${i}-${'x'.repeat(31_000)}`, status: 'active' }));
    for (let i = 0; i < 18; i++) {
      const r = await agentSays(s, JSON.stringify(hello(`fat-${i}`, { rules: longIds })));
      expect(r.code).toBe(1008);
    }
    // Within the frame bound, each part on its own.
    const refusals = [
      hello('fat-a', { rules: [{ id: 'x'.repeat(65), status: 'active' }] }),
      hello('fat-b', { rules: Array.from({ length: 65 }, (_, i) => ({ id: `r${i}`, status: 'active' })) }),
      hello('fat-c', { header: { ...HEADER, kernel: 'k'.repeat(5000) } }),
      hello('fat-d', { header: { ...HEADER, probes: Array.from({ length: 30_000 }, () => 1) } }),
      hello('fat-e', { label: 'l'.repeat(513) }),
      hello('fat-f', { header: { ...HEADER, families: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`f${i}`, 'x'])) } }),
      hello('fat-g', { header: { ...HEADER, families: { ['f'.repeat(65)]: 'x' } } }),
    ];
    for (const h of refusals) expect((await agentSays(s, JSON.stringify(h))).error).toMatch(/hello\./);
    // A hello at the bounds is accepted, and only its known fields are kept.
    const ok = new WebSocket(`${s.url.replace('http', 'ws')}ws/agent`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(await opened(ok)).toBe(101);
    const welcome = new Promise<string>((r) => ok.once('message', (d) => r(String(d))));
    const atBounds = Array.from({ length: 64 }, (_, i) => ({
      id: `r${i}-${'y'.repeat(58)}`.slice(0, 64),
      status: 'active',
      junk: 'z'.repeat(200),
    }));
    ok.send(JSON.stringify(hello('fat-ok', { rules: atBounds })));
    expect(JSON.parse(await welcome)).toMatchObject({ type: 'welcome', host: 'fat-ok' });
    ok.close();
    const hosts = await s.get<HostView[]>('/api/hosts');
    expect(hosts.filter((h) => h.host.startsWith('fat-')).map((h) => h.host)).toEqual(['fat-ok']);
    expect(JSON.stringify(hosts.find((h) => h.host === 'fat-ok')!.rules)).not.toMatch(/junk/);
    // The browser's snapshot still comes.
    const feed = new WebSocket(`${s.url.replace('http', 'ws')}ws/feed`, { origin: s.url.replace(/\/$/, '') });
    const snap = new Promise<string>((r) => feed.once('message', (d) => r(String(d))));
    expect(await opened(feed)).toBe(101);
    expect((JSON.parse(await snap) as { type: string }).type).toBe('snapshot');
    feed.close();
    expect(rss(s.proc.pid!) - before).toBeLessThan(300 << 20); // a generous ceiling: the unbounded hellos held ~920 MB
    await answers(s);
  });

  it('finding 12: /ws/agent takes no cookie and refuses any Origin, even with the right token', async () => {
    const ws = s.url.replace('http', 'ws');
    const before = await rejected(s);
    // The browser's cookie (the right token) is no agent's token.
    expect(await opened(new WebSocket(`${ws}ws/agent`, { headers: { cookie: `lifetrace_token=${TOKEN}` } }))).toBe(401);
    // A page on another loopback port, with the token.
    const page = 'http://127.0.0.1:1';
    expect(await opened(new WebSocket(`${ws}ws/agent`, { headers: { authorization: `Bearer ${TOKEN}` }, origin: page }))).toBe(403);
    // Not even its own origin: agents are not browsers.
    expect(await opened(new WebSocket(`${ws}ws/agent?token=${TOKEN}`, { origin: s.url.replace(/\/$/, '') }))).toBe(403);
    const after = await rejected(s);
    expect((after['agent-origin-refused'] ?? 0) - (before['agent-origin-refused'] ?? 0)).toBe(2);
    expect((after['agent-bad-token'] ?? 0) - (before['agent-bad-token'] ?? 0)).toBe(1);
    // The token alone (header or ?token=) is what an agent needs.
    const good = new WebSocket(`${ws}ws/agent?token=${encodeURIComponent(TOKEN)}`);
    expect(await opened(good)).toBe(101);
    good.close();
    expect((await s.get<HostView[]>('/api/hosts')).some((h) => h.host === 'invented')).toBe(false);
  });
});

/** A masked client frame (text or binary), as a WebSocket client sends it. */
function clientFrame(payload: Buffer, binary = false): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  const len =
    payload.length < 126 ? Buffer.from([0x80 | payload.length]) : Buffer.from([0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([Buffer.from([binary ? 0x82 : 0x81]), len, mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!))]);
}

/** A raw socket that upgrades to `path` and then never reads. */
async function neverReads(s: ServerProcess, path: string, headers: string[]): Promise<Socket> {
  const port = Number(new URL(s.url).port);
  const sock = connect(port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  sock.write(
    [
      `GET ${path} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      ...headers,
      'Upgrade: websocket',
      'Connection: Upgrade',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      'Sec-WebSocket-Version: 13',
      '',
      '',
    ].join('\r\n'),
  );
  sock.pause(); // and never read again (sock.closed turns true when the server drops it)
  sock.on('error', () => {});
  return sock;
}

describe('issue 11, edge: what the server queues to one peer is bounded', () => {
  it('finding 10: a feed client that never reads, asking for a snapshot every second, is dropped and counted; memory bounded', async () => {
    // The bound at 1 MB (--feed-queue-mb) so that it is reached before the heartbeat (30 s) drops the client.
    const s = await startServe(['--feed-queue-mb', '1'], mkdtempSync(join(tmpdir(), 'lifetrace-edge-feed-')));
    try {
      // Big, legal hosts make every feed message big: 60 hellos at the rule bounds.
      for (let i = 0; i < 60; i++) {
        const ws = new WebSocket(`${s.url.replace('http', 'ws')}ws/agent`, { headers: { authorization: `Bearer ${TOKEN}` } });
        expect(await opened(ws)).toBe(101);
        const welcome = new Promise<string>((r) => ws.once('message', (d) => r(String(d))));
        const rules = Array.from({ length: 64 }, (_, j) => ({ id: `r${j}-${'w'.repeat(60)}`.slice(0, 64), status: 'degraded' }));
        ws.send(JSON.stringify(hello(`wide-${i}`, { rules })));
        expect(JSON.parse(await welcome)).toMatchObject({ type: 'welcome' });
        ws.close();
      }
      const before = rss(s.proc.pid!);
      const port = Number(new URL(s.url).port);
      const sock = await neverReads(s, '/ws/feed', [`Origin: http://127.0.0.1:${port}`]);
      let peak = 0;
      const dropped = await until(
        async () => {
          if (!sock.closed) sock.write(clientFrame(Buffer.from('{"type":"snapshot"}')));
          peak = Math.max(peak, rss(s.proc.pid!));
          const n = (await rejected(s))['feed-client-dropped'] ?? 0;
          await new Promise((r) => setTimeout(r, 1000));
          return n > 0 ? n : undefined;
        },
        60_000,
        'the feed client to be dropped',
      );
      expect(dropped).toBe(1);
      expect(peak - before).toBeLessThan(200 << 20); // generous
      sock.destroy();
      await answers(s);
    } finally {
      await s.stop();
    }
  }, 120_000);

  it('finding 10 (its class across browsers): at most 64 feeds at once; the next is refused (503) and counted', async () => {
    const s = await startServe([], mkdtempSync(join(tmpdir(), 'lifetrace-edge-feeds-')));
    const origin = s.url.replace(/\/$/, '');
    const feeds: WebSocket[] = [];
    try {
      for (let i = 0; i < 64; i++) {
        const f = new WebSocket(`${s.url.replace('http', 'ws')}ws/feed`, { origin });
        expect(await opened(f)).toBe(101);
        feeds.push(f);
      }
      expect(await opened(new WebSocket(`${s.url.replace('http', 'ws')}ws/feed`, { origin }))).toBe(503);
      expect((await rejected(s))['feed-too-many']).toBe(1);
      feeds.pop()!.close();
      await until(async () => ((await s.get<{ feeds: number }>('/api/server')).feeds < 64 ? true : undefined), 10_000, 'a feed to leave');
      const again = new WebSocket(`${s.url.replace('http', 'ws')}ws/feed`, { origin });
      expect(await opened(again)).toBe(101);
      feeds.push(again);
    } finally {
      for (const f of feeds) f.close();
      await s.stop();
    }
  }, 60_000);

  it('finding 10 (its class on the agent socket): an agent that never reads its acks is dropped and counted', async () => {
    const s = await startServe([], mkdtempSync(join(tmpdir(), 'lifetrace-edge-acks-')));
    try {
      const sock = await neverReads(s, '/ws/agent', [`Authorization: Bearer ${TOKEN}`]);
      sock.write(clientFrame(Buffer.from(JSON.stringify(hello('deaf')))));
      // Empty batches, the smallest frames that each earn an ack.
      let seq = 0;
      const dropped = await until(
        async () => {
          for (let i = 0; i < 20_000 && !sock.closed; i++) sock.write(clientFrame(Buffer.from(encodeBatchHead(++seq, 0)), true));
          await new Promise((r) => setTimeout(r, 200));
          const n = (await rejected(s))['agent-not-reading'] ?? 0;
          return n > 0 ? n : undefined;
        },
        60_000,
        'the agent to be dropped',
      );
      expect(dropped).toBe(1);
      sock.destroy();
      await answers(s);
    } finally {
      await s.stop();
    }
  }, 120_000);
});

describe('issue 11, edge: server replays and host slots', () => {
  it('finding 11: finished or stopped server replays never hold host slots; at most 8 play at once', async () => {
    const data = mkdtempSync(join(tmpdir(), 'lifetrace-edge-replays-'));
    mkdirSync(join(data, 'captures'));
    for (let i = 0; i < 66; i++) copyFileSync(SAMPLE, join(data, 'captures', `c${i}.ljsonl.gz`));
    const s = await startServe([], data);
    try {
      const post = async (path: string, body: unknown): Promise<{ status: number; body: { host?: string; error?: string } }> => {
        const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
        const r = await fetch(new URL(path, s.url), init);
        return { status: r.status, body: (await r.json()) as { host?: string; error?: string } };
      };
      // 64 replays (the host limit), each played to its end.
      for (let i = 0; i < 64; i++) {
        const r = await post('/api/replay', { capture: `c${i}.ljsonl.gz`, speed: 'max' });
        expect(r.status).toBe(200);
        const finished = async (): Promise<true | undefined> =>
          (await s.get<HostView[]>('/api/hosts')).find((h) => h.host === r.body.host)?.replay?.finished ? true : undefined;
        await until(finished, 30_000, `replay ${i} to finish`);
      }
      expect((await s.get<HostView[]>('/api/hosts')).length).toBe(64);
      // An agent still gets a slot: a finished replay's host is let go of.
      expect(await welcomes(s, 'after-replays')).toBe('welcome');
      expect((await s.get<HostView[]>('/api/hosts')).some((h) => h.host === 'after-replays')).toBe(true);
      // A stopped replay holds nothing either (stopped while playing slowly).
      const slow = await post('/api/replay', { capture: 'c64.ljsonl.gz', speed: 0.1 });
      expect((await post(`/api/replay/${slow.body.host}`, { action: 'stop' })).status).toBe(200);
      expect((await post(`/api/replay/${slow.body.host}`, { action: 'play' })).status).toBe(404);
      // Playing at once: 8 at most, the ninth is refused with a reason.
      const playing: string[] = [];
      for (let i = 0; i < 8; i++) {
        const r = await post('/api/replay', { capture: `c${i}.ljsonl.gz`, speed: 0.1 });
        expect(r.status).toBe(200);
        playing.push(r.body.host!);
      }
      const ninth = await post('/api/replay', { capture: 'c65.ljsonl.gz', speed: 0.1 });
      expect(ninth).toEqual({ status: 409, body: { error: '8 replays are playing: stop one first' } });
      // Agents are not refused while those play.
      expect(await welcomes(s, 'beside-replays')).toBe('welcome');
      for (const h of playing) expect((await post(`/api/replay/${h}`, { action: 'stop' })).status).toBe(200);
      expect((await post('/api/replay', { capture: 'c65.ljsonl.gz', speed: 'max' })).status).toBe(200);
      await answers(s);
    } finally {
      await s.stop();
    }
  }, 300_000);
});

describe('issue 11, edge: GET /api/flags pages', () => {
  it('minor: past one page, a Link rel="next" leads through every flag once, in order, with the same filter', async () => {
    const s = await startServe([], mkdtempSync(join(tmpdir(), 'lifetrace-edge-flags-')));
    try {
      expect((await agent(s.url, ['--replay', SAMPLE, '--speed', 'max', '--host', 'paged'])).exitCode).toBe(0);
      const all = await until(
        async () => {
          const f = await s.get<FlagSummary[]>('/api/flags?host=paged&limit=10000');
          return f.length >= 8 ? f : undefined;
        },
        20_000,
        "the sample's flags",
      );
      const seen: FlagSummary[] = [];
      let next: string | undefined = '/api/flags?host=paged&limit=3';
      for (let pages = 0; next !== undefined; pages++) {
        expect(pages).toBeLessThan(10);
        const r: Response = await fetch(new URL(next, s.url));
        expect(r.status).toBe(200);
        seen.push(...((await r.json()) as FlagSummary[]));
        next = /^<([^>]+)>; rel="next"$/.exec(r.headers.get('link') ?? '')?.[1];
        if (next !== undefined) expect(next).toMatch(/host=paged/);
      }
      expect(seen.map((f) => f.id)).toEqual(all.map((f) => f.id));
      expect((await fetch(new URL('/api/flags?after=nonsense', s.url))).status).toBe(400);
    } finally {
      await s.stop();
    }
  }, 60_000);
});

describe('issue 11, edge: the token', () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    execa(process.execPath, [BIN, ...args], { reject: false, env: { LIFETRACE_TOKEN: undefined, ...env }, timeout: 30_000 });

  it("finding 14: an empty token (--token '' or LIFETRACE_TOKEN=) is a configuration error", async () => {
    const data = mkdtempSync(join(tmpdir(), 'lifetrace-edge-token-'));
    const flag = await run(['serve', '--port', '0', '--data', data, '--token', '']);
    expect(flag.exitCode).toBe(2);
    expect(flag.stderr).toMatch(/the token is empty/);
    const env = await run(['serve', '--port', '0', '--data', data], { LIFETRACE_TOKEN: '' });
    expect(env.exitCode).toBe(2);
    expect(env.stderr).toMatch(/the token is empty/);
  });

  it('minor: --host 127.0.0.2 keeps its token in the file it prints, and an agent connects with it', async () => {
    const data = mkdtempSync(join(tmpdir(), 'lifetrace-edge-host-'));
    const { proc, url, output } = await launch(['serve', '--host', '127.0.0.2', '--port', '0', '--data', data], /agents connect with/);
    try {
      const file = /--token-file (\S+)/.exec(output())?.[1];
      expect(file).toBe(join(data, 'token'));
      expect(existsSync(file!)).toBe(true);
      const args = ['agent', '--server', url, '--token-file', file!, '--replay', SAMPLE, '--speed', 'max', '--host', 'two'];
      const a = await execa(process.execPath, [BIN, ...args], { reject: false, all: true });
      expect(a.exitCode).toBe(0);
    } finally {
      proc.kill('SIGTERM');
      await proc;
    }
  }, 60_000);

  it('minor: a bad cookie over HTTP, where browsers need the token, is a 401, not a 500', async () => {
    const data = mkdtempSync(join(tmpdir(), 'lifetrace-edge-open-'));
    const { proc, url } = await launch(['serve', '--host', '0.0.0.0', '--port', '0', '--token', TOKEN, '--data', data]);
    try {
      const local = url.replace('0.0.0.0', '127.0.0.1');
      const r = await fetch(new URL('/api/hosts', local), { headers: { cookie: 'lifetrace_token=%zz' } });
      expect(r.status).toBe(401);
      const good = await fetch(new URL('/api/hosts', local), { headers: { cookie: `lifetrace_token=${encodeURIComponent(TOKEN)}` } });
      expect(good.status).toBe(200);
    } finally {
      proc.kill('SIGTERM');
      await proc;
    }
  });
});

describe('issue 11, edge: where input enters, as properties', () => {
  it('finding 1: cookieValue never throws, whatever the Cookie header holds', () => {
    const escapes = fc.constantFrom('%', '%z', '%zz', '%E0%A4%A', '%C0%80', '%%', '%ff', '=', ';', ' ');
    const piece = fc.oneof(fc.string(), escapes, fc.constant('lifetrace_token='));
    fc.assert(
      fc.property(
        fc.array(piece, { maxLength: 12 }).map((p) => p.join('')),
        (header) => {
          const v = cookieValue(header, 'lifetrace_token');
          expect(v === undefined || typeof v === 'string').toBe(true);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('findings 2 and 3: checkHello on any JSON, deep or wide, refuses it or keeps a bounded copy; it never throws', () => {
    const deep = fc.integer({ min: 1, max: 50_000 }).map((n) => {
      let v: unknown = 1;
      for (let i = 0; i < n; i++) v = i % 2 ? [v] : { a: v };
      return v;
    });
    const header = fc.oneof(
      fc.jsonValue(),
      deep,
      fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })),
      fc.array(fc.string({ minLength: 4000, maxLength: 5000 }), { maxLength: 100 }).map((a) => ({ families: {}, big: a })),
    );
    fc.assert(
      fc.property(header, fc.array(fc.jsonValue(), { maxLength: 80 }), fc.jsonValue(), (h, rules, label) => {
        const r = checkHello({ type: 'hello', protocol: 1, run: 'r', host: 'h', mode: 'live', header: h, rules, label });
        if (!r.ok) return;
        expect(JSON.stringify(r.value).length).toBeLessThan(MAX_HEADER_CHARS + MAX_HEADER_VALUES * 32 + 64 * 100);
      }),
      { numRuns: 300 },
    );
  });
});
