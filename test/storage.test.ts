/**
 * The server's own disk, with real processes, sockets and files: journals that are damaged, a disk
 * that fills (a real, small tmpfs), names that try to leave their folder, symbolic links, uploads
 * that race. Issue 11, findings 5, 6, 7, 9, 13, 15, 16 and "a full disk on upload answers a bare 500".
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import WebSocket from 'ws';
import { afterAll, describe, expect, it } from 'vitest';
import {
  encodeBatchHead,
  PROTOCOL_VERSION,
  type AgentHello,
  type FlagSummary,
  type HostView,
  type LossMark,
  type StorageView,
} from '../server/shared/wire.js';
import type { AnalysisReport } from '../server/report/build.js';
import { generateCapture } from './bench/generate.js';
import { agent, BIN, startServe, TOKEN, until, type ServerProcess } from './support/live.js';

const root = join(import.meta.dirname, '..');
const SAMPLE = join(root, 'test', 'fixtures', 'sample.ljsonl.gz');

async function analyzeJson(path: string): Promise<AnalysisReport> {
  const r = await execa(process.execPath, [BIN, 'analyze', '--json', path], { reject: false });
  return JSON.parse(r.stdout) as AnalysisReport;
}

const flagKey = (f: { rule: string; objects: string[] }): string => `${f.rule}|${f.objects.join(',')}`;
const hostView = (s: ServerProcess, name: string): Promise<HostView | undefined> =>
  s.get<HostView[]>('/api/hosts').then((hs) => hs.find((h) => h.host === name));
const storage = (s: ServerProcess): Promise<StorageView> => s.get<{ storage: StorageView }>('/api/server').then((v) => v.storage);

/** The sample capture: its header, and its records in `n` batches (as an agent sends them). */
function sampleBatches(n: number): { header: Record<string, unknown>; batches: Buffer[] } {
  const lines = gunzipSync(readFileSync(SAMPLE))
    .toString('utf8')
    .split('\n')
    .filter((l) => l.length > 0);
  const header = JSON.parse(lines.shift()!) as Record<string, unknown>;
  const per = Math.ceil(lines.length / n);
  const batches: Buffer[] = [];
  for (let i = 0; i < lines.length; i += per) batches.push(Buffer.from(`${lines.slice(i, i + per).join('\n')}\n`));
  return { header, batches };
}

/** An agent speaking the protocol by hand, so that a test decides exactly which batches reach which server. */
class RawAgent {
  private readonly inbox: unknown[] = [];
  private waiting: (() => void) | undefined;
  closed = false;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      this.inbox.push(JSON.parse(String(d)));
      this.waiting?.();
    });
    ws.on('close', () => {
      this.closed = true;
      this.waiting?.();
    });
  }

  static async connect(
    url: string,
    hello: AgentHello,
  ): Promise<{ agent: RawAgent; reply: { type: string; resumeAfter?: number; message?: string } }> {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}ws/agent`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const a = new RawAgent(ws);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.send(JSON.stringify(hello));
    return { agent: a, reply: (await a.next()) as { type: string; resumeAfter?: number; message?: string } };
  }

  async next(): Promise<unknown> {
    while (this.inbox.length === 0) {
      if (this.closed) return { type: 'closed' };
      await new Promise<void>((r) => {
        this.waiting = r;
      });
    }
    return this.inbox.shift();
  }

  /** Sends batch `seq` and waits for its acknowledgement. */
  async batch(seq: number, lines: Buffer): Promise<void> {
    this.ws.send(Buffer.concat([encodeBatchHead(seq, lines.toString().split('\n').length - 1), lines]), { binary: true });
    const m = (await this.next()) as { type: string; seq?: number };
    expect(m).toMatchObject({ type: 'ack', seq });
  }

  end(lastSeq: number): void {
    this.ws.send(JSON.stringify({ type: 'end', lastSeq, reason: 'done' }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const done = new Promise((r) => this.ws.once('close', r));
    this.ws.close();
    await done;
  }
}

const helloOf = (host: string, run: string, header: Record<string, unknown>): AgentHello => ({
  type: 'hello',
  protocol: PROTOCOL_VERSION,
  run,
  host,
  mode: 'replay',
  header: { ...header, host },
  rules: [],
});

/** The frames of a journal file: where each starts, its payload size and where it ends (docs/live.md has the format). */
function framesOf(file: string): { at: number; size: number; end: number }[] {
  const buf = readFileSync(file);
  const out: { at: number; size: number; end: number }[] = [];
  for (let at = 0; at + 24 <= buf.length; ) {
    expect(buf.subarray(at, at + 4).toString()).toBe('LTJ2');
    const size = buf.readUInt32LE(at + 20);
    out.push({ at, size, end: at + 24 + size + 8 });
    at += 24 + size + 8;
  }
  return out;
}

const servers: ServerProcess[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop().catch(() => undefined);
});
async function serve(data: string, extra: string[] = []): Promise<ServerProcess> {
  const s = await startServe(extra, data);
  servers.push(s);
  return s;
}

async function freePort(): Promise<number> {
  return new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const p = (probe.address() as { port: number }).port;
      probe.close(() => resolve(p));
    });
  });
}

describe('storage: damaged journals (findings 6 and 7)', () => {
  const { header, batches } = sampleBatches(20);
  const K = 15; // batches acknowledged (and journaled) before the server dies
  let offline: AnalysisReport;

  /**
   * Streams batches 1..K to a server, kills it (SIGKILL), lets `damage` work on the journal, starts
   * a server again on the same data, and lets the agent resume as a real one does: it sends the
   * batches it still has (after K), then ends. Returns the host as the new server sees it.
   */
  async function survive(name: string, damage: (frames: string, hello: string) => void) {
    offline ??= await analyzeJson(SAMPLE);
    const data = mkdtempSync(join(tmpdir(), `lifetrace-${name}-`));
    const hello = helloOf(name, 'run-1', header);
    const first = await serve(data);
    const { agent: a1, reply } = await RawAgent.connect(first.url, hello);
    expect(reply).toMatchObject({ type: 'welcome', resumeAfter: 0 });
    for (let seq = 1; seq <= K; seq++) await a1.batch(seq, batches[seq - 1]!);
    first.proc.kill('SIGKILL');
    await first.proc;
    damage(join(data, 'journal', name, 'run-1.frames'), join(data, 'journal', name, 'run-1.hello.json'));
    const second = await serve(data);
    const { agent: a2, reply: welcome } = await RawAgent.connect(second.url, hello);
    expect(welcome.type).toBe('welcome');
    for (let seq = K + 1; seq <= batches.length; seq++) await a2.batch(seq, batches[seq - 1]!);
    a2.end(batches.length);
    const h = await until(
      async () => {
        const v = await hostView(second, name);
        return v?.ended ? v : undefined;
      },
      30_000,
      'the stream to end',
    );
    const flags = await second.get<FlagSummary[]>(`/api/flags?host=${name}&limit=10000`);
    const losses = (await second.get<{ losses: LossMark[] }>(`/api/stats?host=${name}`)).losses;
    // Whatever was damaged: the server lives, no damaged byte became a line, and no certain flag is one analyze does not have.
    expect(h.anomalies).toBe(0);
    const known = new Set(offline.flags.map(flagKey));
    expect(flags.filter((f) => f.confidence === 'certain' && !known.has(flagKey(f)))).toEqual([]);
    return { h, welcome, flags, losses, server: second, data };
  }

  it('finding 7: flipped bytes inside a frame are never data: that batch is a recorded loss window, the rest is whole', async () => {
    let hit = 0; // the batch whose frame the flipped bytes fall in (frames are batches 1..K in order)
    const r = await survive('flipped', (file) => {
      const buf = readFileSync(file);
      const at = Math.floor(buf.length * 0.45); // inside a frame (whatever the format)
      hit = framesOf(file).findIndex((f) => at >= f.at && at < f.end) + 1;
      for (let i = at; i < at + 64; i++) buf[i] = buf[i]! ^ 0x5a;
      writeFileSync(file, buf);
    });
    expect(hit).toBeGreaterThan(0);
    expect(r.welcome.resumeAfter).toBe(K);
    expect(r.h.missingBatches).toBe(1);
    expect(r.h.events).toBeLessThan(offline.summary.events);
    expect(
      r.losses.some((l) => (l.reason ?? '').includes(`batches ${hit}-${hit} never reached this server (they were damaged in its journal)`)),
    ).toBe(true);
    expect((await storage(r.server)).counts['journal-damaged']).toBe(1);
  }, 60_000);

  it('finding 7: a zeroed tail loses the batches it held, and says so (never "none missing")', async () => {
    const r = await survive('zeroed', (file) => {
      const buf = readFileSync(file);
      buf.fill(0, buf.length - 2000); // inside the last frame's lines (whatever the format)
      writeFileSync(file, buf);
    });
    expect(r.welcome.resumeAfter).toBe(K - 1);
    expect(r.h.missingBatches).toBe(1);
    expect(r.losses.some((l) => /never reached this server \(they were damaged in its journal\)/.test(l.reason ?? ''))).toBe(true);
  }, 60_000);

  it('finding 6: a damaged frame length does not crash the server; the frames after it are found again', async () => {
    const r = await survive('length', (file) => {
      const buf = readFileSync(file);
      buf.writeUInt32LE(0xfffffff0, framesOf(file)[4]!.at + 20);
      writeFileSync(file, buf);
    });
    expect(r.welcome.resumeAfter).toBe(K);
    expect(r.h.missingBatches).toBe(1);
  }, 60_000);

  it('finding 6: a damaged hello file does not crash the server; the checked frames are all kept', async () => {
    const r = await survive('hello', (_frames, hello) => writeFileSync(hello, '{"type":"hello","host":'));
    expect(r.welcome.resumeAfter).toBe(K);
    expect(r.h.missingBatches).toBe(0);
    expect(r.h.events).toBe(offline.summary.events);
    expect((await storage(r.server)).counts['journal-hello-damaged']).toBe(1);
  }, 60_000);

  it('finding 6: a journal that is all garbage (or of another format) is a loss from the start, never data', async () => {
    const r = await survive('garbage', (file) => {
      const buf = readFileSync(file);
      for (let i = 0; i < buf.length; i++) buf[i] = (i * 7919) & 0xff;
      writeFileSync(file, buf);
    });
    expect(r.welcome.resumeAfter).toBe(0);
    expect(r.h.missingBatches).toBe(K);
  }, 60_000);
});

describe('storage: names that become paths (finding 13)', () => {
  it('finding 13: host ".." with run ".." (and the like) is refused; nothing is written outside the data directory', async () => {
    const outer = mkdtempSync(join(tmpdir(), 'lifetrace-names-'));
    const data = join(outer, 'data');
    const server = await serve(data);
    const { header } = sampleBatches(1);
    for (const [host, run] of [
      ['..', '..'],
      ['.', 'r'],
      ['ok', '..'],
      ['a/b', 'r'],
      ['-x', 'r'],
      ['a..b', 'r'],
      ['.hidden', 'r'],
      ['h', 'r/../../x'],
    ]) {
      const { agent: a, reply } = await RawAgent.connect(server.url, helloOf(host!, run!, header));
      expect(reply.type, `${host} ${run}`).toBe('error');
      expect(reply.message).toMatch(/name is a letter or digit/);
      await a.close();
    }
    expect(readdirSync(outer).filter((e) => e !== 'data')).toEqual([]);
    expect(existsSync(join(data, 'journal')) ? readdirSync(join(data, 'journal')) : []).toEqual([]);
    expect(await server.get<HostView[]>('/api/hosts')).toEqual([]);
    // The agent checks its --host by the same rule, before it connects.
    const r = await agent(server.url, ['--replay', SAMPLE, '--host', '..']);
    expect(r.exitCode).toBe(2);
    expect(r.all).toMatch(/--host: a host name is a letter or digit/);
  }, 60_000);

  it('a capture name that would leave the folder is refused by every endpoint', async () => {
    const server = await serve(mkdtempSync(join(tmpdir(), 'lifetrace-cnames-')));
    for (const name of ['..', '.hidden.ljsonl', 'a..b.ljsonl', '%2e%2e%2fx.ljsonl', 'x.txt']) {
      for (const method of ['GET', 'PUT', 'DELETE']) {
        const r = await fetch(new URL(`/api/captures/${name}`, server.url), {
          method,
          headers: { 'content-type': 'application/octet-stream' },
          body: method === 'PUT' ? 'x' : undefined,
        });
        expect([400, 404], `${method} ${name}`).toContain(r.status);
      }
    }
  }, 60_000);
});

describe('storage: symbolic links are never followed (finding 16)', () => {
  it('finding 16: a link in DATA/captures is not listed, read, replayed or deleted through', async () => {
    const data = mkdtempSync(join(tmpdir(), 'lifetrace-links-'));
    const secret = join(data, 'secret.ljsonl');
    writeFileSync(secret, readFileSync(SAMPLE));
    mkdirSync(join(data, 'captures'));
    symlinkSync(secret, join(data, 'captures', 'leak.ljsonl'));
    const server = await serve(data);
    expect(await server.get<unknown[]>('/api/captures')).toEqual([]);
    expect((await fetch(new URL('/api/captures/leak.ljsonl', server.url))).status).toBe(404);
    const replay = await fetch(new URL('/api/replay', server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ capture: 'leak.ljsonl' }),
    });
    expect(replay.status).toBe(404);
    expect((await fetch(new URL('/api/captures/leak.ljsonl', server.url), { method: 'DELETE' })).status).toBe(404);
    expect(readFileSync(secret).equals(readFileSync(SAMPLE))).toBe(true);
    // An upload over the link's name is refused: it exists (as a link), and is not written through.
    const put = await fetch(new URL('/api/captures/leak.ljsonl', server.url), {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: 'overwrite',
    });
    expect(put.status).toBe(409);
    expect(readFileSync(secret).equals(readFileSync(SAMPLE))).toBe(true);
  }, 60_000);

  it("finding 16: a link in place of a host's journal folder is not followed; the live view goes on", async () => {
    const data = mkdtempSync(join(tmpdir(), 'lifetrace-jlinks-'));
    const elsewhere = join(data, 'elsewhere');
    mkdirSync(elsewhere);
    const server = await serve(data); // (a server starting removes any link in DATA/journal: see finding 9)
    mkdirSync(join(data, 'journal'), { recursive: true });
    symlinkSync(elsewhere, join(data, 'journal', 'linked'));
    const { header, batches } = sampleBatches(4);
    const { agent: a, reply } = await RawAgent.connect(server.url, helloOf('linked', 'r1', header));
    expect(reply.type).toBe('welcome');
    for (const [i, b] of batches.entries()) await a.batch(i + 1, b);
    expect(readdirSync(elsewhere)).toEqual([]);
    const h = (await hostView(server, 'linked'))!;
    expect(h.journal?.error).toMatch(/journaling stopped: .*symbolic link/);
    expect(h.events).toBeGreaterThan(0);
    expect((await storage(server)).counts['symlink-refused']).toBeGreaterThan(0);
  }, 60_000);
});

/** A PUT of `chunks`, one every `gapMs`, so that two uploads overlap for real. */
function slowPut(url: string, chunks: Buffer[], gapMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let answered = false; // a refusal may come before the body is all sent: then the rest is not sent
    const req = request(url, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' } }, (res) => {
      answered = true;
      let body = '';
      res.on('data', (d) => {
        body += String(d);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', (e) => {
      if (!answered) reject(e);
    });
    let i = 0;
    const next = (): void => {
      if (answered) return;
      if (i === chunks.length) return void req.end();
      req.write(chunks[i++]);
      setTimeout(next, gapMs);
    };
    next();
  });
}

describe('storage: uploads (finding 15 and the full disk)', () => {
  it('finding 15: two simultaneous uploads of one name: one is stored (201), the other refused (409), never replaced', async () => {
    const data = mkdtempSync(join(tmpdir(), 'lifetrace-race-'));
    const server = await serve(data);
    const url = new URL('/api/captures/race.ljsonl', server.url).href;
    const a = Buffer.alloc(64 << 10, 'a');
    const b = Buffer.alloc(64 << 10, 'b');
    const results = await Promise.all([slowPut(url, [a, a, a, a], 50), slowPut(url, [b, b, b, b], 50)]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
    const winner = results[0]!.status === 201 ? 'a' : 'b';
    const stored = readFileSync(join(data, 'captures', 'race.ljsonl'));
    expect(stored.length).toBe(4 * a.length);
    expect(stored.every((c) => c === winner.charCodeAt(0))).toBe(true);
    // And after it, too.
    expect((await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: 'b' })).status).toBe(409);
    expect(readdirSync(join(data, 'captures'))).toEqual(['race.ljsonl']); // nothing left aside
    expect((await storage(server)).counts['upload-exists']).toBe(2);
  }, 60_000);

  it('an upload cut short by a crash leaves nothing for good: the next server removes what was written aside', async () => {
    const data = mkdtempSync(join(tmpdir(), 'lifetrace-aside-'));
    mkdirSync(join(data, 'captures'));
    writeFileSync(join(data, 'captures', 'cut.ljsonl.upload-0123456789abcdef'), 'half');
    writeFileSync(join(data, 'captures', 'kept.ljsonl'), '{}\n');
    await serve(data);
    expect(readdirSync(join(data, 'captures'))).toEqual(['kept.ljsonl']);
  }, 60_000);

  it('a full disk on upload answers 507 saying so, keeps nothing, and the server goes on', async () => {
    const data = mkdtempSync(join(tmpdir(), 'lifetrace-upfull-'));
    const captures = join(data, 'captures');
    mkdirSync(captures);
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', captures]); // a real, small, filling disk
    try {
      const server = await serve(data);
      const r = await fetch(new URL('/api/captures/big.ljsonl', server.url), {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream' },
        body: Buffer.alloc(1 << 20, 'x'),
      });
      expect(r.status).toBe(507);
      expect(((await r.json()) as { error: string }).error).toMatch(/the upload of big.ljsonl failed: ENOSPC: the disk is full/);
      expect(readdirSync(captures)).toEqual([]);
      const st = await storage(server);
      expect(st).toMatchObject({ ok: false, error: expect.stringMatching(/the upload of big.ljsonl stopped: ENOSPC/) });
      expect(st.counts['upload-disk-full']).toBe(1);
      // A small one still fits: the disk state is ok again.
      const small = await fetch(new URL('/api/captures/small.ljsonl', server.url), {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream' },
        body: '{}\n',
      });
      expect(small.status).toBe(201);
      expect((await storage(server)).ok).toBe(true);
      await server.stop();
    } finally {
      await execa('umount', [captures], { reject: false });
    }
  }, 60_000);
});

describe('storage: a full journal disk (finding 5)', () => {
  it('finding 5: ENOSPC stops journaling with a clear state (host, /api/server); the live view goes on; a restart on the full disk resumes', async () => {
    const data = mkdtempSync(join(tmpdir(), 'lifetrace-jfull-'));
    const journal = join(data, 'journal');
    mkdirSync(journal);
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', journal]); // a real, small, filling disk (a few 256 KiB batches)
    try {
      const capture = join(data, 'big.ljsonl');
      await generateCapture(capture, 200_000, 17);
      const offline = await analyzeJson(capture);
      const port = String(await freePort());
      let server = await serve(data, ['--port', port]);
      const run = agent(server.url, ['--replay', capture, '--speed', 'max', '--host', 'full']);
      const stopped = await until(
        async () => {
          const h = await hostView(server, 'full');
          return h?.journal?.error ? h : undefined;
        },
        60_000,
        'the journal to hit the full disk',
      );
      expect(stopped.journal!.error).toMatch(/journaling stopped: ENOSPC: the disk is full/);
      const st = await storage(server);
      expect(st).toMatchObject({ ok: false, error: expect.stringMatching(/ENOSPC: the disk is full/) });
      expect(st.counts['journal-stopped']).toBeGreaterThanOrEqual(1);
      // The live view goes on past the full disk.
      await until(
        async () => {
          const h = await hostView(server, 'full');
          return h && h.events > stopped.events + 10_000 ? h : undefined;
        },
        60_000,
        'events past the full disk',
      );

      // A server killed now and started again on the still full disk lives, and resumes the agent.
      server.proc.kill('SIGKILL');
      await server.proc;
      server = await serve(data, ['--port', port]);
      const r = await run;
      expect(r.exitCode, r.all).toBe(0);
      const h = await until(
        async () => {
          const v = await hostView(server, 'full');
          return v?.ended ? v : undefined;
        },
        60_000,
        'the stream to end on the new server',
      );
      expect(h.events).toBeGreaterThan(0);
      // What neither the journal nor the agent kept is a recorded loss, never silence (records cut from
      // their context by it may be anomalies; without a loss there are none).
      if (h.events < offline.summary.events) expect(h.missingBatches).toBeGreaterThan(0);
      expect(h.anomalies === 0 || h.missingBatches > 0, JSON.stringify(h.anomalyKinds)).toBe(true);
      // The batches neither the journal nor the agent kept are one recorded loss window; every flag
      // whose evidence reaches into it is uncertain. (Whether a flag after the window may be certain when
      // its object's earlier life fell inside it is the rules' question: see the report of issue 11.)
      const stats = await server.get<{ losses: LossMark[] }>('/api/stats?host=full');
      const gap = stats.losses.find((l) => /never reached this server/.test(l.reason ?? ''));
      if (h.missingBatches > 0) expect(gap).toBeDefined();
      const flags = await server.get<FlagSummary[]>('/api/flags?host=full&limit=10000');
      const across = flags.filter((f) => gap !== undefined && f.time_s <= (gap.end_s ?? 0) && f.last_s >= (gap.start_s ?? 0));
      expect(across.every((f) => f.confidence === 'uncertain')).toBe(true);
      // And no certain warning or error that analyze of the whole capture does not have: a flag whose
      // objects lived through the loss rests on what the loss may have held. (Generation numbers are
      // left out: births lost in the gap number the later ones differently. Info flags fold many
      // occurrences under the first one seen, which a loss changes.)
      const sameObjects = (f: { rule: string; objects: string[] }): string =>
        `${f.rule}|${f.objects.map((o) => o.replace(/#\d+$/, '')).join(',')}`;
      const known = new Set(offline.flags.map(sameObjects));
      const invented = flags.filter((f) => f.severity !== 'info' && f.confidence === 'certain' && !known.has(sameObjects(f)));
      expect(invented.map((f) => f.message).slice(0, 5)).toEqual([]);
    } finally {
      await execa('umount', [journal], { reject: false });
    }
  }, 180_000);
});

describe('storage: journals of dropped hosts (finding 9)', () => {
  it('finding 9: a host forgotten past the host limit has its journal deleted; a restart keeps at most that many', async () => {
    const data = mkdtempSync(join(tmpdir(), 'lifetrace-drop-'));
    const { header, batches } = sampleBatches(20);
    const server = await serve(data);
    for (let i = 0; i < 70; i++) {
      const h = `h${i}`;
      const { agent: a, reply } = await until(
        async () => {
          const c = await RawAgent.connect(server.url, helloOf(h, 'r', header));
          if (c.reply.type === 'welcome') return c;
          await c.agent.close();
          return undefined;
        },
        20_000,
        `host ${h} to be welcome`,
      );
      expect(reply.type).toBe('welcome');
      await a.batch(1, batches[0]!);
      await a.close();
    }
    const kept = readdirSync(join(data, 'journal'));
    expect(kept.length).toBeLessThanOrEqual(64);
    expect(kept).toContain('h69');
    expect(kept).not.toContain('h0');
    expect((await storage(server)).counts['journal-dropped']).toBeGreaterThanOrEqual(6);
    await server.stop();

    // Journal folders left by an earlier server past the limit are deleted when one starts.
    for (let i = 0; i < 100; i++) {
      mkdirSync(join(data, 'journal', `old${i}`), { recursive: true });
      writeFileSync(join(data, 'journal', `old${i}`, 'r.frames'), 'x');
    }
    const again = await serve(data);
    expect(readdirSync(join(data, 'journal')).length).toBeLessThanOrEqual(64);
    expect((await storage(again)).counts['journal-dropped']).toBeGreaterThanOrEqual(100);
    rmSync(data, { recursive: true, force: true });
  }, 120_000);
});

describe('storage: reading a big journal back', () => {
  it('a restarted server answers while it reads back and analyzes a big journal; the agent is welcomed once it is done', async () => {
    const data = mkdtempSync(join(tmpdir(), 'lifetrace-bigjournal-'));
    const capture = join(data, 'big.ljsonl');
    await generateCapture(capture, 300_000, 23);
    const [headerLine, ...lines] = readFileSync(capture, 'utf8').trimEnd().split('\n');
    const batches: Buffer[] = [];
    for (let i = 0; i < lines.length; i += 10_000) batches.push(Buffer.from(`${lines.slice(i, i + 10_000).join('\n')}\n`));
    const hello = helloOf('big', 'run-1', JSON.parse(headerLine!) as Record<string, unknown>);
    const first = await serve(data);
    const { agent: a1 } = await RawAgent.connect(first.url, hello);
    for (let seq = 1; seq <= batches.length; seq++) await a1.batch(seq, batches[seq - 1]!);
    first.proc.kill('SIGKILL');
    await first.proc;

    const second = await serve(data);
    const order: string[] = [];
    const welcomed = RawAgent.connect(second.url, hello).then((r) => {
      order.push(`welcome after ${r.reply.resumeAfter}`);
      return r;
    });
    // Asked right after the hello, while the journal is read back: answered before the welcome.
    await new Promise((r) => setTimeout(r, 200));
    const answered = fetch(new URL('/api/server', second.url)).then((r) => {
      order.push(`/api/server ${r.status}`);
    });
    const [{ agent: a2 }] = await Promise.all([welcomed, answered]);
    expect(order).toEqual(['/api/server 200', `welcome after ${batches.length}`]);
    a2.end(batches.length);
    const h = await until(
      async () => {
        const v = await hostView(second, 'big');
        return v?.ended ? v : undefined;
      },
      60_000,
      'the stream to end',
    );
    expect(h.events).toBe((await analyzeJson(capture)).summary.events);
  }, 180_000);
});
