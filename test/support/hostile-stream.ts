/**
 * A seeded stream of hostile inputs for a running server: raw HTTP requests (any method, path,
 * Host, Origin, Cookie, body), raw WebSocket upgrades, agent sessions (hellos and batch frames,
 * mutated), browser feeds (some that never read), uploads of captures (valid, broken, bombs) and
 * server-side replays, recordings and their commands. Every step is generated from the seed alone
 * (never from the server's answers), so a seed and a step number replay a failure exactly.
 */
import { gzipSync } from 'node:zlib';
import type WebSocket from 'ws';
import { mulberry32 } from './prng.js';
import { agentExchange, openSocket, rawHttp, type HostileServer } from './hostile-server.js';
import {
  BAD_COOKIE,
  batch,
  gzipBomb,
  HEADER,
  hello,
  longLineGzip,
  longRulesHello,
  manyCpuCapture,
  nestedHello,
  recordLines,
  SAMPLE_LINES,
  sampleCapture,
  staleFdReuseCapture,
} from './hostile-inputs.js';

export const STEP_KINDS = ['agent', 'http', 'upgrade', 'feed', 'upload', 'desk'] as const;
export type StepKind = (typeof STEP_KINDS)[number];

export interface StreamPlan {
  seed: number;
  steps: number;
  /** The kinds of step to generate (HOSTILE_KINDS=agent,upload narrows a failure down). */
  kinds: readonly StepKind[];
  /** Large inputs (MBs) in the long run only. */
  long: boolean;
  timeoutMs: number;
}

/** `npm test` runs a short fixed-seed stream; HOSTILE_STEPS asks for a long one (a new seed unless HOSTILE_SEED). */
export function streamPlan(): StreamPlan {
  const long = process.env.HOSTILE_STEPS !== undefined && Number(process.env.HOSTILE_STEPS) > 200;
  const steps = Number(process.env.HOSTILE_STEPS ?? 60);
  const seed = process.env.HOSTILE_SEED !== undefined ? Number(process.env.HOSTILE_SEED) : long ? Date.now() % 1_000_000_007 : 11;
  const kinds =
    process.env.HOSTILE_KINDS?.split(',').filter((k): k is StepKind => (STEP_KINDS as readonly string[]).includes(k)) ?? STEP_KINDS;
  return { seed, steps, long, kinds, timeoutMs: 60_000 + steps * 3000 };
}

class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  float(): number {
    return this.next();
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  /** One of `cases` by weight. */
  weighted<T>(cases: readonly [number, T][]): T {
    let x = this.next() * cases.reduce((a, [w]) => a + w, 0);
    for (const [w, v] of cases) if ((x -= w) < 0) return v;
    return cases[cases.length - 1]![1];
  }
}

/** Strings that have broken parsers, decoders and path checks somewhere. */
const NASTY = [
  '%zz',
  '%',
  '%00',
  '%E0%A4%A',
  '%2e%2e',
  '..',
  '.',
  '../..',
  '..%2f..',
  '\u0000',
  '\uD800',
  '\uFEFF',
  '😀',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  '',
  ' ',
  '-1',
  '1e309',
  'NaN',
  'null',
  '{}',
  '[]',
  '"',
  "'",
  '\\',
  '<script>',
  'a'.repeat(300),
  'é',
];
const KEYS = [
  'type',
  'action',
  'speed',
  'capture',
  'host',
  'name',
  'to_s',
  'lastSeq',
  'reason',
  'token',
  '__proto__',
  'constructor',
  'rules',
  'id',
];

function nastyString(r: Rng): string {
  if (r.chance(0.5)) return r.pick(NASTY);
  const alphabet = 'abcXYZ019._-:/%\\"\'{}[] \t\r\n\u0000\u00e9\u4e2d\uD83D';
  return Array.from({ length: r.chance(0.05) ? 2000 + r.int(8000) : r.int(40) }, () => alphabet[r.int(alphabet.length)]).join('');
}

/** encodeURIComponent, for strings that may hold a lone surrogate (which it refuses). */
const encode = (s: string): string => encodeURIComponent(s.replace(/[\uD800-\uDFFF]/g, '\uFFFD'));

function jsonValue(r: Rng, depth = 0): unknown {
  switch (r.int(depth > 3 ? 4 : 7)) {
    case 0:
      return null;
    case 1:
      return r.chance(0.5);
    case 2:
      return r.pick([0, -1, 1, 0.1, 1e308, -1e308, 2 ** 53 + 1, 65_536, 2 ** 32, -0]);
    case 3:
      return nastyString(r);
    case 4:
      return Array.from({ length: r.int(5) }, () => jsonValue(r, depth + 1));
    default:
      return Object.fromEntries(
        Array.from({ length: r.int(5) }, () => [r.chance(0.6) ? r.pick(KEYS) : nastyString(r), jsonValue(r, depth + 1)]),
      );
  }
}

/** A printable preview of an input for the failure report. */
function preview(x: unknown, max = 240): string {
  const s = Buffer.isBuffer(x)
    ? `<${x.length} bytes: ${JSON.stringify(x.subarray(0, 80).toString('latin1'))}…>`
    : typeof x === 'string'
      ? x
      : JSON.stringify(x);
  return s.length > max ? `${s.slice(0, max)}… (${s.length} chars)` : s;
}

interface Ctx {
  s: HostileServer;
  plan: StreamPlan;
  feeds: WebSocket[];
  /** Answers of 500 and up to client input: each is a bug. */
  errors: string[];
}

interface Step {
  what: string;
  run(c: Ctx): Promise<void>;
}

const TAGS = [
  'ctl',
  'ctl_r',
  'ins',
  'rm',
  'poll',
  'poll_r',
  'fdi',
  'fdc',
  'fdc_r',
  'alloc',
  'free',
  'fork',
  'exit',
  'ready',
  'epc',
  'rel',
  'x',
];

/** One capture line, valid, mutated or plain hostile. */
function captureLine(r: Rng, long: boolean): Buffer {
  const record = (): string => r.pick(SAMPLE_LINES.slice(1));
  return Buffer.from(
    r.weighted<() => string | Buffer>([
      [40, record],
      [
        25,
        () => {
          const m = /^\{"type": "printf", "data": (".*")\}$/.exec(record());
          if (!m) return record();
          const fields = (JSON.parse(m[1]!) as string).split('\t');
          const i = r.int(fields.length);
          fields[i] = r.weighted<string>([
            [3, String(r.pick([65_535, 65_536, 2 ** 31 - 1, -1, 1e9, 4096]))],
            [2, r.pick(['0', '-1', '99999999999999999999999', '1e3', 'x', ''])],
            [2, r.pick(TAGS)],
            [2, nastyString(r)],
            [1, 'f'.repeat(r.int(64))],
          ]);
          if (r.chance(0.2)) fields.splice(r.int(fields.length), r.chance(0.5) ? 1 : 0, ...(r.chance(0.5) ? [nastyString(r)] : []));
          return `{"type": "printf", "data": ${JSON.stringify(fields.join('\t'))}}`;
        },
      ],
      [
        5,
        () =>
          JSON.stringify({
            type: 'lost_events',
            data: r.chance(0.5) ? { events: jsonValue(r) } : { count: r.pick([-1, 0, 1e308, 2 ** 53, 1e6]) },
          }),
      ],
      [
        5,
        () =>
          JSON.stringify({
            type: 'lifetrace_gap',
            data: {
              from: r.pick(['0', '-5', '1e400', 'x', '18446744073709551616', String(r.int(1e9))]),
              to: r.pick(['0', '1', '99999999999', '']),
              reason: nastyString(r),
            },
          }),
      ],
      [5, () => record().slice(0, r.int(60))],
      [
        4,
        () => JSON.stringify({ type: r.pick(['map', 'errorf', 'warnf', 'attached_probes', 'time', nastyString(r)]), data: jsonValue(r) }),
      ],
      [3, () => `{"type": "printf", "data": "${'z'.repeat(long ? r.int(4 << 20) : r.int(64 << 10))}"}`],
      [2, () => '['.repeat(long ? r.int(200_000) : r.int(20_000))],
      [2, () => Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x90, 0x28, 0xbc])],
      [2, () => r.pick(['', ' ', '\r', '\t', '{}', '[]', 'null', '{"type":null}', '{"format":"lifetrace-capture","version":99}'])],
    ])(),
  );
}

function captureLines(r: Rng, long: boolean): Buffer[] {
  if (r.chance(0.06)) return recordLines(staleFdReuseCapture(r.int(20))).map((l) => Buffer.from(l));
  if (r.chance(0.04)) return recordLines(manyCpuCapture(long ? 20_000 : 2000, 65_536)).map((l) => Buffer.from(l));
  return Array.from({ length: 1 + r.int(r.chance(0.1) ? 3000 : 120) }, () => captureLine(r, long));
}

function headerValue(r: Rng, long: boolean): unknown {
  return r.weighted<() => unknown>([
    [30, () => HEADER],
    [20, () => JSON.parse(SAMPLE_LINES[0]!) as unknown],
    [15, () => ({ ...HEADER, cpus: r.pick([65_536, 2 ** 31, -1, 0, 1e308, 'x', null, [1, 2]]) })],
    [10, () => ({ ...HEADER, deferred_ms: r.pick([1e12, -5, 0.5, 'x', null]) })],
    [10, () => ({ ...HEADER, families: jsonValue(r), fixes: jsonValue(r), probes: jsonValue(r) })],
    [5, () => ({ ...HEADER, kernel: nastyString(r), host: nastyString(r), extra: 'e'.repeat(long ? 8 << 20 : 64 << 10) })],
    [10, () => jsonValue(r)],
  ])();
}

function rulesValue(r: Rng, long: boolean): unknown {
  return r.weighted<() => unknown>([
    [40, () => []],
    [
      25,
      () => [
        { id: 'epoll.stale-fd', status: 'active' },
        { id: 'lifetime.use-after-free', status: r.pick(['active', 'degraded']) },
      ],
    ],
    [10, () => Array.from({ length: 1000 }, (_, i) => ({ id: `rule-${i}-`.padEnd(r.int(long ? 31_000 : 2000), 'r'), status: 'active' }))],
    [10, () => Array.from({ length: r.int(5) }, () => ({ id: nastyString(r), status: nastyString(r) }))],
    [5, () => Array.from({ length: 1001 }, () => ({ id: 'x', status: 'off' }))],
    [10, () => jsonValue(r)],
  ])();
}

const HOSTS = ['h1', 'h2', 'h3', 'h4', 'a:b', '..', '.', '...', 'H'.repeat(128), 'x'.repeat(129), '', 'replay-u1'];
const RUNS = ['r1', 'r2', 'r3', '..', '.', 'R'.repeat(128)];

function agentStep(r: Rng, plan: StreamPlan): Step {
  const auth = r.weighted<[string, (c: Ctx) => { headers: Record<string, string>; query: string }]>([
    [85, ['Bearer token', (c) => ({ headers: { authorization: `Bearer ${c.s.token}` }, query: '' })]],
    [3, ['?token=', (c) => ({ headers: {}, query: `?token=${encodeURIComponent(c.s.token)}` })]],
    [
      3,
      [
        'the cookie and a foreign Origin',
        (c) => ({
          headers: { cookie: `lifetrace_token=${c.s.token}`, origin: 'http://127.0.0.1:1' },
          query: '',
        }),
      ],
    ],
    [3, ['no token', () => ({ headers: {}, query: '' })]],
    [2, ['an empty token', () => ({ headers: { authorization: 'Bearer ' }, query: '?token=' })]],
    [2, ['a bad cookie', () => ({ headers: { cookie: BAD_COOKIE }, query: '' })]],
    [
      2,
      [
        'the token and an Origin',
        (c) => ({
          headers: { authorization: `Bearer ${c.s.token}`, origin: `http://127.0.0.1:${c.s.port}` },
          query: '',
        }),
      ],
    ],
  ]);
  const host = r.chance(0.85) ? r.pick(HOSTS) : nastyString(r);
  const run = r.chance(0.9) ? r.pick(RUNS) : nastyString(r);
  const [helloKind, helloText] = r.weighted<() => [string, string]>([
    [
      70,
      () => [
        'a hello',
        hello({
          run,
          host,
          mode: r.pick(['live', 'live', 'replay', 'x']),
          header: headerValue(r, plan.long),
          rules: rulesValue(r, plan.long),
          ...(r.chance(0.1) ? { label: jsonValue(r) } : {}),
        }),
      ],
    ],
    [
      8,
      () => {
        const d = r.pick([1000, 10_000, plan.long ? 100_000 : 30_000]);
        return [`a hello whose header nests ${d} deep`, nestedHello(run, host, d)];
      },
    ],
    [
      4,
      () => {
        const n = plan.long ? 31_000 : 1000;
        return [`a hello with 1000 rule ids of ${n} bytes`, longRulesHello(run, host, 1000, n)];
      },
    ],
    [10, () => ['a hello of random fields', JSON.stringify({ type: 'hello', ...(jsonValue(r) as object) })]],
    [8, () => ['a random text', nastyString(r)]],
  ])();
  const frames: (string | Buffer)[] = [helloText];
  let seq = 0;
  for (let n = r.int(8); n > 0; n--) {
    frames.push(
      r.weighted<() => string | Buffer>([
        [
          70,
          () => {
            seq = r.weighted<number>([
              [85, seq + 1],
              [5, seq],
              [4, seq + 2 + r.int(100)],
              [3, 0],
              [3, 2 ** 53],
            ]);
            const lines = captureLines(r, plan.long);
            const head = batch(seq, Buffer.alloc(0), r.chance(0.9) ? lines.length : r.int(2 ** 32));
            return Buffer.concat([head, ...lines.flatMap((l) => [l, Buffer.from('\n')])]);
          },
        ],
        [
          8,
          () =>
            r.pick([
              Buffer.alloc(3),
              Buffer.from('LTB1'),
              Buffer.concat([Buffer.from('LTB1'), Buffer.alloc(12, 0xff), Buffer.from('x\n')]),
            ]),
        ],
        [8, () => JSON.stringify({ type: 'end', lastSeq: r.pick([seq, seq + 1, -1, 1e308, 'x', null]), reason: jsonValue(r) })],
        [6, () => r.pick([helloText, nastyString(r), JSON.stringify(jsonValue(r))])],
        [8, () => JSON.stringify({ type: 'end', lastSeq: seq, reason: 'done' })],
      ])(),
    );
  }
  return {
    what:
      `agent socket (${auth[0]}) host ${preview(host, 60)} run ${preview(run, 40)}, ${helloKind}, then ${frames.length - 1} frames: ` +
      frames.map((f) => preview(f, 160)).join(' | '),
    async run(c) {
      const a = auth[1](c);
      await agentExchange(c.s.port, a.headers, frames, 100, a.query);
    },
  };
}

const PATHS = [
  '/',
  '/style.css',
  '/js/main.js',
  '/js/%2e%2e/%2e%2e/package.json',
  '/vendor/chart.umd.js',
  '/api/hosts',
  '/api/server',
  '/api/rules',
  '/api/stats?host=%s',
  '/api/flags?host=%s&limit=%s&severity=%s&pid=%s',
  '/api/flags/%s',
  '/api/objects?addr=%s&kind=%s',
  '/api/captures',
  '/api/captures/%s',
  '/api/captures/record',
  '/api/captures/stop',
  '/api/replay',
  '/api/replay/%s',
  '/?token=%s',
  '/api/%s',
  '//',
  '*',
  '/api/../../etc/passwd',
  '/api/flags?host=a&host=b',
  '/api/flags?host[x]=1',
];

/** Sends one raw request; an answer of 500 and up to client input is recorded as a bug. */
async function send(c: Ctx, what: string, head: string, body: Buffer | string = '', ms = 3000): Promise<void> {
  const a = await rawHttp(c.s.port, [head, body], ms);
  if (a.status !== undefined && a.status >= 500) c.errors.push(`${a.status} ${preview(a.body, 120)} to ${what}`);
}

/** A request head; `headers` lines are complete ("Name: value"). */
const requestHead = (method: string, path: string, headers: string[]): string =>
  `${method} ${path} HTTP/1.1\r\n${headers.map((h) => `${h}\r\n`).join('')}Connection: close\r\n\r\n`;

const oneLine = (s: string): string => s.replace(/[\r\n]/g, '');

/** What a step's description shows for the server's own port and token. */
const PLACEHOLDERS = { s: { port: '<port>', token: '<token>' } } as unknown as Ctx;

function httpStep(r: Rng): Step {
  const method = r.weighted<string>([
    [40, 'GET'],
    [30, 'POST'],
    [8, 'PUT'],
    [8, 'DELETE'],
    [4, 'HEAD'],
    [4, 'OPTIONS'],
    [3, 'PATCH'],
    [3, 'FOO'],
  ]);
  const fill = (): string =>
    r.chance(0.5) ? encode(nastyString(r)) : r.pick(['%zz', '%', '..', 'h1', 'replay-u1', 'u1.ljsonl', '1', '-1', 'x'.repeat(300)]);
  const path = r.pick(PATHS).replace(/%s/g, fill);
  const headers: [string, (c: Ctx) => string][] = [];
  headers.push([
    'Host',
    r.weighted<(c: Ctx) => string>([
      [80, (c) => `127.0.0.1:${c.s.port}`],
      [5, () => 'evil.example'],
      [5, () => 'localhost'],
      [5, () => ''],
      [5, () => '[::1]:1'],
    ]),
  ]);
  if (r.chance(0.3)) {
    headers.push([
      'Origin',
      r.weighted<(c: Ctx) => string>([
        [50, (c) => `http://127.0.0.1:${c.s.port}`],
        [30, () => 'http://evil.example'],
        [20, () => 'null'],
      ]),
    ]);
  }
  if (r.chance(0.3)) {
    const junk = oneLine(nastyString(r));
    headers.push([
      'Cookie',
      r.weighted<(c: Ctx) => string>([
        [40, () => BAD_COOKIE],
        [30, (c) => `lifetrace_token=${c.s.token}`],
        [30, () => `lifetrace_token=${junk}`],
      ]),
    ]);
  }
  if (r.chance(0.2)) {
    const junk = oneLine(nastyString(r));
    headers.push([
      'Authorization',
      r.weighted<(c: Ctx) => string>([
        [50, (c) => `Bearer ${c.s.token}`],
        [50, () => `Bearer ${junk}`],
      ]),
    ]);
  }
  const type = r.weighted<string | undefined>([
    [60, 'application/json'],
    [15, undefined],
    [10, 'application/octet-stream'],
    [10, 'text/plain'],
    [5, 'application/json; charset=utf-16'],
  ]);
  const command = (): unknown => ({
    action: r.pick(['play', 'pause', 'speed', 'seek', 'next-flag', 'stop', 'x']),
    speed: jsonValue(r),
    to_s: jsonValue(r),
    capture: r.pick(['u1.ljsonl', 'u2.ljsonl.gz', nastyString(r)]),
    host: jsonValue(r),
    name: jsonValue(r),
  });
  const body =
    method === 'GET' || method === 'HEAD'
      ? Buffer.from(r.chance(0.05) ? 'x' : '')
      : r.weighted<() => Buffer>([
          [60, () => Buffer.from(JSON.stringify(r.chance(0.5) ? command() : jsonValue(r)) ?? 'null')],
          [15, () => Buffer.from(nastyString(r))],
          [10, () => Buffer.from('{"a":'.repeat(5000))],
          [10, () => Buffer.alloc(20_000, 'x')],
          [5, () => Buffer.alloc(0)],
        ])();
  const length = r.weighted<number | undefined>([
    [85, body.length],
    [5, undefined],
    [5, Math.max(0, body.length - 3)],
    [5, -1],
  ]);
  const shown = headers.map(([k, v]) => `${k}: ${preview(v(PLACEHOLDERS), 80)}`).join(', ');
  const what = `HTTP ${method} ${preview(path, 200)} [${shown}] ${type ?? '(no type)'} length ${length ?? 'none'} body ${preview(body, 200)}`;
  return {
    what,
    run: (c) =>
      send(
        c,
        what,
        requestHead(method, path, [
          ...headers.map(([k, v]) => `${k}: ${v(c)}`),
          ...(type ? [`Content-Type: ${type}`] : []),
          ...(length !== undefined ? [`Content-Length: ${length}`] : []),
        ]),
        body,
      ),
  };
}

function upgradeStep(r: Rng): Step {
  const path = r.pick([
    '/ws/agent',
    '/ws/feed',
    '/ws/other',
    '/ws/agent?token=',
    '/ws/agent?token=%zz',
    '/ws/feed?token=%zz',
    '/',
    '/api/hosts',
  ]);
  const cookie = r.weighted<string | undefined>([
    [40, BAD_COOKIE],
    [20, 'lifetrace_token=%E0%A4%A'],
    [20, undefined],
    [20, `lifetrace_token=${encode(nastyString(r))}`],
  ]);
  const origin = r.pick([undefined, 'http://evil.example', 'null', 'http://127.0.0.1']);
  const version = r.pick(['13', '13', '8', 'x']);
  return {
    what: `raw upgrade to ${path} cookie ${cookie ?? 'none'} origin ${origin ?? 'none'} version ${version}`,
    async run(c) {
      await rawHttp(
        c.s.port,
        requestHead('GET', path, [
          `Host: 127.0.0.1:${c.s.port}`,
          'Upgrade: websocket',
          'Connection: Upgrade',
          `Sec-WebSocket-Version: ${version}`,
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
          ...(cookie ? [`Cookie: ${cookie}`] : []),
          ...(origin ? [`Origin: ${origin}`] : []),
        ]).replace('Connection: close\r\n', ''),
        2000,
      );
    },
  };
}

function feedStep(r: Rng): Step {
  const origin = r.weighted<string>([
    [70, 'own'],
    [15, 'http://evil.example'],
    [15, 'none'],
  ]);
  const messages = Array.from({ length: r.int(4) }, () =>
    r.weighted<string | Buffer>([
      [50, '{"type":"snapshot"}'],
      [15, JSON.stringify(jsonValue(r))],
      [10, 'x'.repeat(5000)],
      [10, Buffer.from([1, 2, 3])],
      [15, nastyString(r)],
    ]),
  );
  const stall = r.chance(0.3);
  return {
    what: `feed (origin ${origin}${stall ? ', never reads' : ''}): ${messages.map((m) => preview(m, 80)).join(' | ')}`,
    async run(c) {
      const headers: Record<string, string> = { host: `127.0.0.1:${c.s.port}` };
      if (origin === 'own') headers.origin = `http://127.0.0.1:${c.s.port}`;
      else if (origin !== 'none') headers.origin = origin;
      const { ws } = await openSocket(c.s.port, '/ws/feed', headers, 3000);
      if (ws === undefined) return;
      ws.on('error', () => undefined);
      if (stall) {
        (ws as unknown as { _socket: { pause(): void } })._socket.pause();
        c.feeds.push(ws);
        if (c.feeds.length > 3) c.feeds.shift()!.terminate();
      }
      for (const m of messages) if (ws.readyState === ws.OPEN) ws.send(m, { binary: typeof m !== 'string' });
      if (!stall) {
        await new Promise((res) => setTimeout(res, 50));
        ws.terminate();
      }
    },
  };
}

function uploadStep(r: Rng, plan: StreamPlan): Step {
  const k = r.int(6);
  const name = r.weighted<string>([
    [70, `u${k}.ljsonl${r.chance(0.5) ? '.gz' : ''}`],
    [10, encode(r.pick(['../u.ljsonl', '..', '.ljsonl', 'a/b.ljsonl', 'x.ljsonl.gz.upload-1']))],
    [10, `${'n'.repeat(200)}.ljsonl`],
    [10, r.pick(['%zz.ljsonl', '%2e%2e%2fx.ljsonl', 'u1.ljsonl%00.gz'])],
  ]);
  const body = r.weighted<[string, () => Buffer]>([
    [35, ['a slice of the sample', () => Buffer.from(sampleCapture(r.int(1500), 1 + r.int(400)))]],
    [15, ['a gzipped slice of the sample', () => gzipSync(sampleCapture(r.int(1500), 1 + r.int(400)))]],
    [10, ['the stale-fd reuse capture', () => Buffer.from(staleFdReuseCapture(r.int(50)))]],
    [8, ['records over 65,536 CPUs', () => gzipSync(manyCpuCapture(plan.long ? 40_000 : 3000, 65_536))]],
    [6, ['a gzip bomb', () => gzipBomb(plan.long ? 512 << 20 : 16 << 20)]],
    [6, ['one long line, gzipped', () => longLineGzip(plan.long ? 256 << 20 : 4 << 20)]],
    [
      8,
      [
        'a truncated gzip',
        () => {
          const g = gzipSync(sampleCapture(0, 300));
          return g.subarray(0, r.int(g.length));
        },
      ],
    ],
    [12, ['random bytes', () => Buffer.from(Array.from({ length: r.int(4000) }, () => r.int(256)))]],
  ]);
  const bytes = body[1]();
  const type = r.chance(0.9) ? 'application/octet-stream' : 'text/plain';
  // The name as the page would send it in JSON (a lone % kept as is).
  const capture = decodeURIComponent(name.replace(/%(?![0-9a-fA-F]{2})/g, '%25'));
  const replay = r.chance(0.7)
    ? JSON.stringify({ capture, speed: r.pick<unknown>([1, 'max', 'max', 100, 0.1, 0, -1, 'x', 1e308]) })
    : undefined;
  const what = `upload ${preview(name, 80)} (${body[0]}, ${bytes.length} bytes, ${type})${replay ? `, then POST /api/replay ${replay}` : ''}`;
  return {
    what,
    async run(c) {
      const host = `Host: 127.0.0.1:${c.s.port}`;
      await send(
        c,
        what,
        requestHead('PUT', `/api/captures/${name}`, [host, `Content-Type: ${type}`, `Content-Length: ${bytes.length}`]),
        bytes,
        5000,
      );
      if (replay === undefined) return;
      await send(
        c,
        what,
        requestHead('POST', '/api/replay', [host, 'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(replay)}`]),
        replay,
      );
    },
  };
}

function deskStep(r: Rng): Step {
  const host = r.chance(0.7) ? `replay-u${r.int(6)}` : r.pick(HOSTS);
  const capture = `u${r.int(6)}.ljsonl${r.chance(0.5) ? '.gz' : ''}`;
  const [method, path, body] = r.weighted<[string, string, unknown]>([
    [
      40,
      [
        'POST',
        `/api/replay/${encode(host)}`,
        r.chance(0.8)
          ? {
              action: r.pick(['play', 'pause', 'speed', 'seek', 'next-flag', 'stop']),
              speed: r.pick([1, 'max', 100, 0.1, -3, 'x']),
              to_s: r.pick([0, -1, 1e308, 5, 0.001]),
            }
          : jsonValue(r),
      ],
    ],
    [
      20,
      [
        'POST',
        '/api/captures/record',
        r.chance(0.7)
          ? {
              ...(r.chance(0.5) ? { host: r.pick(HOSTS) } : {}),
              ...(r.chance(0.5) ? { name: r.pick(['rec', '..', nastyString(r)]) } : {}),
            }
          : jsonValue(r),
      ],
    ],
    [15, ['POST', '/api/captures/stop', r.chance(0.5) ? {} : { host: r.pick(HOSTS) }]],
    [15, ['DELETE', `/api/captures/${capture}`, undefined]],
    [10, ['GET', `/api/captures/${capture}`, undefined]],
  ]);
  const json = body === undefined ? '' : (JSON.stringify(body) ?? 'null');
  const what = `${method} ${path} ${preview(json, 200)}`;
  return {
    what,
    run: (c) =>
      send(
        c,
        what,
        requestHead(method, path, [
          `Host: 127.0.0.1:${c.s.port}`,
          ...(body === undefined ? [] : ['Content-Type: application/json', `Content-Length: ${Buffer.byteLength(json)}`]),
        ]),
        json,
      ),
  };
}

/** The next step of the stream: only the generator's state decides it. */
function nextStep(r: Rng, plan: StreamPlan): Step {
  const steps: [number, StepKind, () => Step][] = [
    [30, 'agent', () => agentStep(r, plan)],
    [25, 'http', () => httpStep(r)],
    [10, 'upgrade', () => upgradeStep(r)],
    [10, 'feed', () => feedStep(r)],
    [13, 'upload', () => uploadStep(r, plan)],
    [12, 'desk', () => deskStep(r)],
  ];
  return r.weighted(steps.filter(([, k]) => plan.kinds.includes(k)).map(([w, , f]) => [w, f] as [number, () => Step]))();
}

/**
 * Runs `plan.steps` generated steps against `s`, calling `survives` after each. A failure names the
 * seed, the step, the input and how to run it again.
 */
export async function runHostileStream(
  s: HostileServer,
  plan: StreamPlan,
  survives: (s: HostileServer, input: string) => Promise<unknown>,
): Promise<void> {
  const r = new Rng(plan.seed);
  const c: Ctx = { s, plan, feeds: [], errors: [] };
  const kinds = plan.kinds.length === STEP_KINDS.length ? '' : `HOSTILE_KINDS=${plan.kinds.join(',')} `;
  const again = (step: number): string =>
    `HOSTILE_SEED=${plan.seed} HOSTILE_STEPS=${step + 1} ${kinds}npx vitest run test/hostile.test.ts -t "seeded stream"`;
  try {
    for (let i = 0; i < plan.steps; i++) {
      const step = nextStep(r, plan);
      const before = c.errors.length;
      try {
        await step.run(c);
      } catch (e) {
        // The client side failing (a refused socket, a reset) is not the server dying: `survives` decides.
        void e;
      }
      for (let k = before; k < c.errors.length; k++) c.errors[k] = `step ${i}: ${c.errors[k]}`;
      try {
        await survives(s, `step ${i} of the stream from seed ${plan.seed}: ${step.what}`);
      } catch (e) {
        throw new Error(`hostile stream, seed ${plan.seed}, step ${i}: ${(e as Error).message}\n  replay: ${again(i)}`, { cause: e });
      }
    }
  } finally {
    for (const ws of c.feeds) ws.terminate();
  }
  if (c.errors.length > 0) {
    throw new Error(
      `hostile stream, seed ${plan.seed}: answers of 500 and up (our bug, not the client's):\n  ${c.errors.slice(0, 10).join('\n  ')}\n` +
        `  replay: ${again(plan.steps - 1)}\n  server output (tail):\n${s
          .output()
          .split('\n')
          .slice(-20)
          .map((l) => `    | ${l.slice(0, 300)}`)
          .join('\n')}`,
    );
  }
}
