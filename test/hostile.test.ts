/**
 * The process-level hostile test (issue 11): the real `lifetrace serve`, as a child process on
 * loopback, with and without a token, with --data, sent what an attacker or a chaos engineer would
 * send. After every input it must be alive, answer /api/server, and stay under a memory ceiling.
 *
 * First the sixteen findings of issue 11, each as the input it needed; then a seeded stream of
 * generated hostile requests, frames, cookies, uploads and captures (hostile-stream.ts). The short
 * stream runs in `npm test`; a long one: HOSTILE_STEPS=5000 (HOSTILE_SEED=n replays a run; a
 * failure prints the seed, the step and the input).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import type WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import type { HostView } from '../server/shared/wire.js';
import { BIN } from './support/live.js';
import { agentExchange, HostileServer, openSocket, rawHttp, type ServeSetup } from './support/hostile-server.js';
import {
  BAD_COOKIE,
  batch,
  gzipBomb,
  hello,
  longLineGzip,
  longRulesHello,
  manyCpuCapture,
  nestedHello,
  recordLines,
  SAMPLE_LINES,
  sampleCapture,
  staleFdReuseCapture,
} from './support/hostile-inputs.js';
import { runHostileStream, streamPlan } from './support/hostile-stream.js';

const TOKEN = 'hostile-token-0123456789abcdef';
const running = new Set<HostileServer>();
const tmp = (): string => mkdtempSync(join(tmpdir(), 'lifetrace-hostile-'));

async function serve(setup: Partial<ServeSetup> = {}): Promise<HostileServer> {
  const s = await HostileServer.start({ data: join(tmp(), 'data'), ...setup });
  running.add(s);
  return s;
}

afterEach(async () => {
  for (const s of running) await s.stop();
  running.clear();
});

const tail = (out: string): string =>
  out
    .split('\n')
    .slice(-25)
    .map((l) => `    | ${l.slice(0, 300)}`)
    .join('\n');

/** The server is alive, answers and is under the ceiling after `input`; a failure names the input and what the server printed. */
async function survives(s: HostileServer, input: string, ceilingMb?: number): Promise<{ rejected: Record<string, number> }> {
  try {
    return await s.check(ceilingMb);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n  after: ${input}\n  server output (tail):\n${tail(s.output())}`, { cause: e });
  }
}

const bearer = (s: HostileServer): Record<string, string> => ({ authorization: `Bearer ${s.token}` });
const upgradeRequest = (path: string, headers: Record<string, string>): string =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n` +
  `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;

async function hosts(s: HostileServer): Promise<HostView[]> {
  const r = await s.api<HostView[]>('GET', '/api/hosts');
  if (r.status !== 200 || r.json === undefined) throw new Error(`/api/hosts answered ${r.status}: ${r.text.slice(0, 200)}`);
  return r.json;
}

const uploadHead = (s: HostileServer, name: string, bytes: number): string =>
  `PUT /api/captures/${name} HTTP/1.1\r\n` +
  `Host: 127.0.0.1:${s.port}\r\nConnection: close\r\nContent-Type: application/octet-stream\r\nContent-Length: ${bytes}\r\n\r\n`;

/** PUT a capture into the library (raw bytes). */
async function upload(s: HostileServer, name: string, body: Buffer | string): Promise<number | undefined> {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
  return (await rawHttp(s.port, [uploadHead(s, name, b.length), b])).status;
}

/** Sample records in batches of `per`, from the sample's first record. */
const sampleBatches = (n: number, per: number): string[][] =>
  Array.from({ length: n }, (_, i) => SAMPLE_LINES.slice(1 + i * per, 1 + (i + 1) * per));
const SAMPLE_HEADER = JSON.parse(SAMPLE_LINES[0]!) as Record<string, unknown>;

/** The journal's files of a host (whatever the layout below DATA/journal/HOST), ending in `suffix`. */
function journalFiles(data: string, host: string, suffix: string): string[] {
  const dir = join(data, 'journal', host);
  const found = readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith(suffix))
    .map((f) => join(dir, f));
  if (found.length === 0) throw new Error(`no journal file *${suffix} under ${dir}: the journal's layout changed, update this test`);
  return found;
}

/** Decoding anomalies: what reading damaged bytes as records gives (the clean stream has none). */
const DATA_ANOMALIES = ['malformed-json', 'bad-envelope', 'unknown-record', 'bad-record', 'bad-stack', 'truncated-line', 'no-header'];

async function analyzeJson(path: string): Promise<{ summary: { events: number }; flags: { rule: string; objects: string[] }[] }> {
  const r = await execa(process.execPath, [BIN, 'analyze', '--json', path], { reject: false });
  return JSON.parse(r.stdout) as { summary: { events: number }; flags: { rule: string; objects: string[] }[] };
}

describe('hostile: the sixteen findings of issue 11, each as the input it needed', () => {
  it('finding 1: a WebSocket upgrade with the cookie lifetrace_token=%zz (no token at all)', async () => {
    const s = await serve(); // loopback, no --token: the stored one
    for (const path of ['/ws/agent', '/ws/feed']) {
      await rawHttp(s.port, upgradeRequest(path, { Cookie: BAD_COOKIE, Origin: `http://127.0.0.1` }), 5000);
      await survives(s, `an upgrade to ${path} with Cookie: ${BAD_COOKIE}`);
    }
    // Off loopback browsers need the token, so the cookie is read on every request (a bare 500 was the answer).
    const off = await serve({ token: TOKEN, extra: ['--host', '::ffff:127.0.0.1'] });
    for (const path of ['/ws/agent', '/ws/feed']) {
      await rawHttp(off.port, upgradeRequest(path, { Cookie: BAD_COOKIE }), 5000);
      await survives(off, `(off loopback) an upgrade to ${path} with Cookie: ${BAD_COOKIE}`);
    }
    const r = await rawHttp(off.port, `GET /api/hosts HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${BAD_COOKIE}\r\nConnection: close\r\n\r\n`);
    await survives(off, `(off loopback) GET /api/hosts with Cookie: ${BAD_COOKIE}`);
    expect(r.status, `GET /api/hosts with a bad cookie: ${r.body}`).toBeDefined();
    expect(r.status, "a bad cookie is the client's fault, not a 500").toBeLessThan(500);
    // On loopback the cookie is read when a request is refused (a Host that is not loopback).
    const refused = await rawHttp(
      s.port,
      `GET /api/hosts HTTP/1.1\r\nHost: evil.example\r\nCookie: ${BAD_COOKIE}\r\nConnection: close\r\n\r\n`,
    );
    await survives(s, `GET /api/hosts with Host: evil.example and Cookie: ${BAD_COOKIE}`);
    expect(refused.status, `a refused request with a bad cookie: ${refused.body}`).toBeLessThan(500);
  });

  it('finding 2: a hello whose header nests 100k levels (600 KB)', async () => {
    const s = await serve({ token: TOKEN });
    await agentExchange(s.port, bearer(s), [nestedHello('r', 'deep', 100_000)]);
    await survives(s, 'a hello whose header nests 100,000 objects');
  });

  it('finding 3: hellos with 1,000 rule ids of 31 KB each over 18 hosts, then /api/hosts and a browser feed', async () => {
    const s = await serve({ token: TOKEN });
    for (let h = 0; h < 18; h++) {
      await agentExchange(s.port, bearer(s), [longRulesHello(`run${h}`, `wide${h}`, 1000, 31_000)], 100);
      await survives(s, `hello ${h + 1} of 18 with 1,000 rule ids of 31 KB`);
    }
    const r = await s.api('GET', '/api/hosts');
    await survives(s, 'GET /api/hosts after 18 wide hellos');
    expect(r.status, r.text.slice(0, 200)).toBe(200);
    const feed = await openSocket(s.port, '/ws/feed', { origin: `http://127.0.0.1:${s.port}`, host: `127.0.0.1:${s.port}` });
    await new Promise((r) => setTimeout(r, 500)); // let the snapshot be built and sent
    feed.ws?.terminate();
    await survives(s, 'a browser feed (its snapshot) after 18 wide hellos');
  });

  it('finding 4: epoll.stale-fd meets an epitem registered again whose removal was never seen', async () => {
    const capture = staleFdReuseCapture(20);
    const lines = recordLines(capture);
    const problems: string[] = [];
    const note = async (s: HostileServer, input: string): Promise<boolean> => {
      try {
        await survives(s, input);
        return true;
      } catch (e) {
        problems.push((e as Error).message);
        return false;
      }
    };

    // Live: the throwing batch on one host; another host goes on.
    const data = join(tmp(), 'data');
    let s = await serve({ token: TOKEN, data });
    const other = await openSocket(s.port, '/ws/agent', bearer(s));
    other.ws!.send(hello({ run: 'ok-run', host: 'bystander', header: SAMPLE_HEADER }));
    const bad = await agentExchange(s.port, bearer(s), [hello({ run: 'bad-run', host: 'lossy' }), batch(1, lines)]);
    if (await note(s, 'a live batch whose records make epoll.stale-fd throw')) {
      const acked = await new Promise<boolean>((resolve) => {
        other.ws!.on('message', (d) => {
          if ((JSON.parse(String(d)) as { type: string; seq?: number }).seq === 1) resolve(true);
        });
        other.ws!.on('close', () => resolve(false));
        other.ws!.send(batch(1, sampleBatches(1, 200)[0]!));
      });
      if (!acked) problems.push("another host's batch was not acknowledged after the throwing batch");
      if (!bad.messages.some((m) => m.type === 'ack')) problems.push(`the batch was not acknowledged: ${JSON.stringify(bad.messages)}`);
    }
    other.ws?.terminate();

    // The journal holds the batch: a restarted server that rebuilds the host must not die again (a crash loop).
    await s.stop();
    s = await serve({ token: TOKEN, data });
    await agentExchange(s.port, bearer(s), [hello({ run: 'bad-run', host: 'lossy' })]);
    await note(s, 'a restart on the same --data and the agent of that run saying hello again (the journal is analyzed again)');

    // Uploaded and replayed on the server (a fresh one if that one is gone).
    if (s.exited() !== undefined) s = await serve({ token: TOKEN });
    expect(await upload(s, 'stale.ljsonl', capture)).toBe(201);
    await s.api('POST', '/api/replay', { capture: 'stale.ljsonl', speed: 'max' });
    await note(s, 'a server-side replay of that capture');

    // `lifetrace analyze`: never a crash, never an early stop; a status that says so when a rule or the
    // model failed on a record (3, with each failure a counted anomaly), 0 when nothing did.
    for (const [what, text] of [
      ['the capture', capture],
      ['a capture where it comes mid-file', staleFdReuseCapture(3000)],
    ] as const) {
      const f = join(tmp(), 'stale.ljsonl');
      writeFileSync(f, text);
      const cli = await execa(process.execPath, [BIN, 'analyze', '--json', f], { reject: false, all: true });
      if (/^\s+at /m.test(cli.all ?? '')) problems.push(`lifetrace analyze died with a stack trace on ${what}:\n${cli.all?.slice(0, 800)}`);
      const report = JSON.parse(cli.stdout || '{}') as {
        summary?: { events?: number; lines?: number; anomaly_counts?: Record<string, number>; input_error?: string | null };
      };
      const failed = ['rule-error', 'model-error'].reduce((n, k) => n + (report.summary?.anomaly_counts?.[k] ?? 0), 0);
      if (cli.exitCode !== (failed > 0 ? 3 : 0))
        problems.push(`lifetrace analyze exited ${String(cli.exitCode)} on ${what} with ${failed} rule or model failures`);
      if (report.summary?.input_error) problems.push(`lifetrace analyze stopped reading ${what}: ${report.summary.input_error}`);
      const records = text.trimEnd().split('\n').length - 1; // less the header
      if ((report.summary?.lines ?? 0) < records)
        problems.push(`lifetrace analyze read ${report.summary?.lines} lines of ${what} (${records + 1}): it stopped early`);
    }
    expect(problems, problems.join('\n\n')).toEqual([]);
  });

  it('finding 5: --data on a full disk (a 1 MB tmpfs), filled by the journal and full from the start', async () => {
    const fsWrap = (fill: boolean): string[] => [
      'unshare',
      '-rm',
      'sh',
      '-c',
      `mount -t tmpfs -o size=1m none "$0" && ${fill ? 'head -c 2M /dev/zero > "$0/fill" 2>/dev/null;' : ''} exec "$@"`,
    ];
    for (const fill of [false, true]) {
      const data = join(tmp(), 'data');
      mkdirSync(data);
      const s = await serve({ token: TOKEN, data, wrap: [...fsWrap(fill), data] });
      const line = `{"type": "printf", "data": "${'x'.repeat(200)}"}`;
      const lines = Array.from({ length: 200 }, () => line);
      const frames = [hello({ run: 'r', host: 'full' }), ...Array.from({ length: 40 }, (_, i) => batch(i + 1, lines))];
      const ex = await agentExchange(s.port, bearer(s), frames, 1000);
      await survives(s, `${fill ? 'a disk full before the hello' : '8 MB of batches into a journal on a 1 MB disk'}`);
      // The live view goes on: every batch is still acknowledged.
      const acks = ex.messages.filter((m) => m.type === 'ack').length;
      expect(acks, `batches acknowledged on a full disk: ${JSON.stringify(ex.messages.slice(-3))}`).toBe(40);
      await s.stop();
    }
  });

  it('finding 6: a damaged journal (a frame length, the hello file) when the agent comes back', async () => {
    const rewrite = (file: string, change: (b: Buffer) => void): void => {
      const b = readFileSync(file);
      change(b);
      writeFileSync(file, b);
    };
    const damages: [string, (data: string) => void][] = [
      ['a frame length of 0xffffffff', (data) => rewrite(journalFiles(data, 'dmg', 'frames')[0]!, (b) => b.writeUInt32LE(0xffffffff, 16))],
      [
        'a frame length of 0x7fffffff in the second frame',
        (data) =>
          rewrite(journalFiles(data, 'dmg', 'frames')[0]!, (b) => {
            b.writeUInt32LE(0x7fffffff, Math.min(b.length - 4, 20 + b.readUInt32LE(16) + 16));
          }),
      ],
      ['a hello file that is not JSON', (data) => writeFileSync(journalFiles(data, 'dmg', 'hello.json')[0]!, '{"type":"hel')],
      ['a hello file that is JSON null', (data) => writeFileSync(journalFiles(data, 'dmg', 'hello.json')[0]!, 'null')],
      [
        'a hello file whose header is not an object',
        (data) =>
          writeFileSync(journalFiles(data, 'dmg', 'hello.json')[0]!, '{"type":"hello","host":"dmg","run":"r1","header":7,"rules":{}}'),
      ],
    ];
    for (const [what, damage] of damages) {
      const data = join(tmp(), 'data');
      let s = await serve({ token: TOKEN, data });
      const frames = [hello({ run: 'r1', host: 'dmg', header: SAMPLE_HEADER }), ...sampleBatches(4, 100).map((l, i) => batch(i + 1, l))];
      await agentExchange(s.port, bearer(s), frames);
      await s.stop(); // SIGKILL: the journal stays
      damage(data);
      s = await serve({ token: TOKEN, data });
      await agentExchange(s.port, bearer(s), [hello({ run: 'r1', host: 'dmg', header: SAMPLE_HEADER })]);
      await survives(s, `the agent back after a restart on a journal with ${what}`);
      await s.stop();
    }
  });

  it('finding 7: flipped bytes and a zeroed tail in the journal are a recorded loss, never data', async () => {
    const batches = sampleBatches(10, 150);
    const whole = join(tmp(), 'sent.ljsonl');
    writeFileSync(whole, `${[SAMPLE_LINES[0], ...batches.flat()].join('\n')}\n`);
    const offline = await analyzeJson(whole);
    const known = new Set(offline.flags.map((f) => `${f.rule}|${f.objects.join(',')}`));
    const damages: [string, (b: Buffer) => void][] = [
      [
        '64 flipped bytes in the middle',
        (b) => {
          for (let i = 0; i < 64; i++) b[(b.length >> 1) + i]! ^= 0x21;
        },
      ],
      ['its last 30% zeroed', (b) => b.fill(0, Math.floor(b.length * 0.7))],
    ];
    for (const [what, damage] of damages) {
      const data = join(tmp(), 'data');
      let s = await serve({ token: TOKEN, data });
      const flipHello = hello({ run: 'r1', host: 'flip', header: SAMPLE_HEADER, mode: 'replay' });
      await agentExchange(s.port, bearer(s), [flipHello, ...batches.map((l, i) => batch(i + 1, l))]);
      await s.stop();
      const file = journalFiles(data, 'flip', 'frames')[0]!;
      const b = readFileSync(file);
      damage(b);
      writeFileSync(file, b);
      s = await serve({ token: TOKEN, data });
      // The agent had every batch acknowledged: it has nothing to resend, and says where it ended.
      await agentExchange(s.port, bearer(s), [flipHello, JSON.stringify({ type: 'end', lastSeq: 10, reason: 'done' })]);
      await survives(s, `a restart on a journal with ${what}`);
      const h = (await hosts(s)).find((x) => x.host === 'flip');
      expect(h, `host flip after the restart (${what})`).toBeDefined();
      const stats = await s.api<{ losses: unknown[] }>('GET', '/api/stats?host=flip');
      const lossShown = h!.lost > 0 || h!.missingBatches > 0 || (stats.json?.losses.length ?? 0) > 0;
      const invented = Object.entries(h!.anomalyKinds).filter(([k]) => DATA_ANOMALIES.includes(k));
      expect.soft(invented, `damaged bytes read as records, from a journal with ${what}`).toEqual([]);
      const gone = offline.summary.events - h!.events;
      if (gone > 0) expect.soft(lossShown, `${gone} events gone and no loss recorded (${what})`).toBe(true);
      const flags = await s.api<{ rule: string; objects: string[] }[]>('GET', '/api/flags?host=flip&limit=10000');
      const unknown = (flags.json ?? []).filter((f) => !known.has(`${f.rule}|${f.objects.join(',')}`));
      expect.soft(unknown, `flags lifetrace analyze does not have, from a journal with ${what}`).toEqual([]);
      await s.stop();
    }
  });

  it('finding 8: uploaded captures replayed on the server: never a blocked event loop, memory and work bounded', async () => {
    // Records over 65,536 CPU numbers (the API did not answer for minutes); one 256 MB line in a 260 KB
    // gzip (held whole: ~1 GB resident); a gzip bomb (2.5 GB of blank lines in 2.5 MB: a minute of CPU
    // per analysis, which only a bound on the decompressed size ends).
    const bomb = gzipBomb(64 << 20);
    const inputs: { name: string; body: Buffer; ceilingMb?: number; bounded?: string }[] = [
      { name: 'cpus.ljsonl.gz', body: gzipSync(manyCpuCapture(60_000, 65_536)) },
      { name: 'longline.ljsonl.gz', body: longLineGzip(256 << 20), ceilingMb: 600 },
      // gzip members one after the other are one gzip stream: 40 x 64 MB.
      { name: 'bomb.ljsonl.gz', body: Buffer.concat(Array.from({ length: 40 }, () => bomb)), bounded: 'a decompressed size' },
    ];
    const problems: string[] = [];
    for (const { name, body, ceilingMb, bounded } of inputs) {
      const s = await serve({ token: TOKEN });
      expect(await upload(s, name, body)).toBe(201);
      // Set by the request's promise: typed wide, or the compiler narrows it to 'waiting' for good.
      let answer = 'waiting' as number | undefined | 'waiting';
      void s.api('POST', '/api/replay', { capture: name, speed: 'max' }, 400_000).then((r) => {
        answer = r.status;
      });
      const input = `the server replaying ${name} (${body.length} bytes uploaded)`;
      // Until the replay is over (or refused), the server must go on answering, within its memory.
      try {
        let replay: NonNullable<HostView['replay']> | undefined;
        for (let i = 0; i < 480; i++) {
          await new Promise((r) => setTimeout(r, 250));
          await survives(s, `${input}, check ${i + 1}`, ceilingMb);
          const list = await s.api<HostView[]>('GET', '/api/hosts');
          if (list.status !== 200) throw new Error(`/api/hosts answered ${list.status ?? 'nothing'} during ${input}`);
          replay = list.json?.find((x) => x.replay !== null)?.replay ?? undefined;
          if (answer !== 'waiting' && (replay === undefined || replay.finished || replay.error !== null)) break;
        }
        if (bounded !== undefined && answer === 200 && (replay === undefined || replay.error === null)) {
          const state = replay?.finished ? 'read to its end' : 'still going after 480 checks';
          problems.push(`${input}: ${state}, no bound on ${bounded} stopped it`);
        }
      } catch (e) {
        problems.push((e as Error).message);
      }
      await s.stop();
    }
    expect(problems, problems.join('\n\n')).toEqual([]);
  }, 400_000);

  it('finding 9: journals of hosts dropped past the host limit are deleted', async () => {
    const data = join(tmp(), 'data');
    const s = await serve({ token: TOKEN, data });
    for (let h = 0; h < 72; h++) {
      await agentExchange(s.port, bearer(s), [hello({ run: `run${h}`, host: `many${h}` }), batch(1, sampleBatches(1, 20)[0]!)], 50);
    }
    await survives(s, '72 hosts, each one batch and gone');
    const kept = readdirSync(join(data, 'journal')).filter((h) => readdirSync(join(data, 'journal', h)).length > 0);
    expect(kept.length, `journal folders with files for 72 hosts on a server that follows 64: ${kept.length}`).toBeLessThanOrEqual(64);
  });

  it('finding 10: feed clients that never read and ask for a snapshot every second stay bounded', async () => {
    const s = await serve({ token: TOKEN });
    for (let h = 0; h < 60; h++) await agentExchange(s.port, bearer(s), [longRulesHello(`run${h}`, `fat${h}`, 1000, 100)], 30);
    await survives(s, '60 hosts with 1,000 rule ids of 100 bytes');
    const before = s.rssMb();
    const ceiling = before + 400;
    const stalled: WebSocket[] = [];
    for (let i = 0; i < 12; i++) {
      const f = await openSocket(s.port, '/ws/feed', { origin: `http://127.0.0.1:${s.port}`, host: `127.0.0.1:${s.port}` });
      if (f.ws === undefined) continue;
      (f.ws as unknown as { _socket: { pause(): void } })._socket.pause(); // never reads
      stalled.push(f.ws);
    }
    try {
      for (let round = 0; round < 8; round++) {
        await new Promise((r) => setTimeout(r, 1050));
        for (const ws of stalled) if (ws.readyState === ws.OPEN) ws.send('{"type":"snapshot"}');
        const what = `round ${round + 1}: 12 feed clients that never read asking for a snapshot (RSS before: ${before.toFixed(0)} MB)`;
        await survives(s, what, ceiling);
      }
    } finally {
      for (const ws of stalled) ws.terminate();
    }
  });

  it('finding 11: finished and stopped server-side replays do not keep agents out', async () => {
    const s = await serve({ token: TOKEN });
    const capture = sampleCapture(0, 40);
    for (let i = 0; i < 66; i++) {
      const name = `r${String(i).padStart(2, '0')}.ljsonl`;
      expect(await upload(s, name, capture)).toBe(201);
      const r = await s.api<{ host: string }>('POST', '/api/replay', { capture: name, speed: 'max' });
      if (i % 2 === 0 && r.json?.host !== undefined) await s.api('POST', `/api/replay/${r.json.host}`, { action: 'stop' });
    }
    await survives(s, '66 server-side replays, every other one stopped');
    const ex = await agentExchange(s.port, bearer(s), [hello({ run: 'after', host: 'newcomer' })]);
    expect(ex.messages[0], 'an agent after 66 replays').toMatchObject({ type: 'welcome' });
  });

  it('finding 12: /ws/agent takes the token only (not the browser cookie), and refuses an Origin', async () => {
    const s = await serve(); // loopback, the stored token: what a browser has as a cookie
    const page = 'http://127.0.0.1:1'; // a page on another loopback port
    const cookie = `lifetrace_token=${s.token}`;
    const viaCookie = await agentExchange(s.port, { cookie, origin: page }, [hello({ run: 'x', host: 'invented' })]);
    const viaOrigin = await agentExchange(s.port, { ...bearer(s), origin: page }, [hello({ run: 'y', host: 'invented2' })]);
    await survives(s, 'agent sockets from a browser page');
    expect(viaCookie.status, 'an agent socket with the browser cookie and a foreign Origin').not.toBe('open');
    expect(viaOrigin.status, 'an agent socket with the token and a browser Origin').not.toBe('open');
    expect((await hosts(s)).map((h) => h.host)).toEqual([]);
  });

  it('finding 13: host ".." with run ".." writes nothing outside the data folder', async () => {
    const root = tmp();
    const data = join(root, 'data');
    const s = await serve({ token: TOKEN, data });
    const names = [
      ['..', '..'],
      ['.', '..'],
      ['..', '.'],
      ['.', '.'],
      ['...', '..'],
      ['..', '...'],
    ];
    const outside: string[] = [];
    try {
      for (const [host, run] of names) {
        await agentExchange(s.port, bearer(s), [hello({ run: run!, host: host! }), batch(1, sampleBatches(1, 10)[0]!)], 100);
        await survives(s, `hello with host ${host} run ${run}`);
        // Looked at after each hello: the next run of a host deletes the files of the one before.
        const seen = [
          ...readdirSync(root)
            .filter((n) => n !== 'data')
            .map((n) => join(root, n)),
          ...[`${root}.hello.json`, `${root}.frames`].filter((f) => existsSync(f)),
          // (The data folder is made when something is first kept there: refused hellos keep nothing.)
          ...(existsSync(data) ? readdirSync(data) : [])
            .filter((n) => !['journal', 'captures', 'token'].includes(n))
            .map((n) => join(data, n)),
        ];
        for (const f of seen) outside.push(`host ${host} run ${run}: ${f}`);
      }
      expect(outside, 'files written outside DATA/journal').toEqual([]);
    } finally {
      rmSync(`${root}.hello.json`, { force: true });
      rmSync(`${root}.frames`, { force: true });
    }
  });

  it('finding 14: an empty token is a configuration error, not a token that empty credentials match', async () => {
    const problems: string[] = [];
    for (const [what, setup] of [
      ["--token ''", { token: '' }],
      ['LIFETRACE_TOKEN=', { env: { LIFETRACE_TOKEN: '' } }],
    ] as const) {
      let s: HostileServer;
      try {
        s = await serve(setup);
      } catch (e) {
        if (!/token/i.test((e as Error).message)) problems.push(`serve with ${what} failed without saying why: ${(e as Error).message}`);
        continue;
      }
      problems.push(`serve started with ${what}; it must refuse to (a configuration error)`);
      const ex = await agentExchange(s.port, {}, [hello({ run: 'r', host: 'empty' })], 400, '?token=');
      const ex2 = await agentExchange(s.port, { authorization: 'Bearer ' }, [hello({ run: 'r2', host: 'empty2' })]);
      if (ex.status === 'open') problems.push(`an agent with ?token= was accepted by a server started with ${what}`);
      if (ex2.status === 'open') problems.push(`an agent with "Bearer " was accepted by a server started with ${what}`);
      await s.stop();
    }
    expect(problems, problems.join('\n')).toEqual([]);
  });

  it('finding 15: two simultaneous uploads of one name: one is stored, the other refused', async () => {
    const s = await serve({ token: TOKEN });
    const bodies = [sampleCapture(0, 300), sampleCapture(300, 300)].map((c) => Buffer.from(c));
    const socks = bodies.map((b) => {
      const sock = connect(s.port, '127.0.0.1');
      let answer = '';
      sock.on('data', (d: Buffer) => {
        answer += d.toString();
      });
      sock.on('error', () => undefined);
      const done = new Promise<string>((r) => sock.on('close', () => r(answer)));
      sock.write(uploadHead(s, 'same.ljsonl', b.length));
      sock.write(b.subarray(0, b.length >> 1));
      return { sock, done, body: b };
    });
    await new Promise((r) => setTimeout(r, 400)); // both are in flight
    for (const { sock, body } of socks) sock.write(body.subarray(body.length >> 1));
    const answers = await Promise.all(socks.map((x) => x.done));
    await survives(s, 'two simultaneous uploads of one name');
    const statuses = answers.map((a) => Number(/^HTTP\/1\.1 (\d+)/.exec(a)?.[1]));
    expect(statuses.filter((x) => x === 201).length, `statuses ${statuses.join(', ')}`).toBe(1);
    const stored = await rawHttp(s.port, `GET /api/captures/same.ljsonl HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    const winner = bodies[statuses.indexOf(201)]!.toString();
    expect(stored.body === winner, 'the stored capture is the upload that was answered 201').toBe(true);
  });

  it('finding 16: a symlink inside DATA/captures is not followed by GET, list or replay', async () => {
    const root = tmp();
    const data = join(root, 'data');
    const s = await serve({ token: TOKEN, data });
    const secret = join(root, 'secret.ljsonl');
    writeFileSync(secret, sampleCapture(0, 20).replace('"host":"lifetrace-guest"', '"host":"SECRET-MARKER"'));
    mkdirSync(join(data, 'captures'), { recursive: true });
    symlinkSync(secret, join(data, 'captures', 'evil.ljsonl'));
    const got = await rawHttp(s.port, `GET /api/captures/evil.ljsonl HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    const list = await s.api<{ name: string }[]>('GET', '/api/captures');
    const replay = await s.api('POST', '/api/replay', { capture: 'evil.ljsonl', speed: 'max' });
    await survives(s, 'GET, list and replay of a symlinked capture');
    expect(got.body.includes('SECRET-MARKER'), 'GET /api/captures/evil.ljsonl returned the file the link points to').toBe(false);
    expect((list.json ?? []).map((c) => c.name)).not.toContain('evil.ljsonl');
    expect(replay.status, `POST /api/replay of the link: ${replay.text}`).not.toBe(200);
    expect((await hosts(s)).map((h) => h.host)).not.toContain('SECRET-MARKER');
  });
});

describe('hostile: a seeded stream of generated hostile inputs', () => {
  const plan = streamPlan();
  it(
    `${plan.steps} steps from seed ${plan.seed} (HOSTILE_SEED, HOSTILE_STEPS), against a server with a token and --data`,
    async () => {
      const s = await serve({ token: TOKEN });
      await runHostileStream(s, plan, survives);
    },
    plan.timeoutMs,
  );
  it(
    `${plan.steps} steps from seed ${plan.seed + 1}, against a loopback server without --token (its stored token)`,
    async () => {
      const s = await serve();
      await runHostileStream(s, { ...plan, seed: plan.seed + 1 }, survives);
    },
    plan.timeoutMs,
  );
});
