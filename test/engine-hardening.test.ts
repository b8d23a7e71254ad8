/**
 * Issue 11, the analysis engine: a rule that throws is contained (counted, named, the analysis goes
 * on), in `analyze` and in the server; and the bounds where capture bytes enter the analysis (CPU
 * numbers, line length, gzip inflation), through the real CLI, server and agent processes.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeFile } from '../server/analyze/pipeline.js';
import { analyzeStatus } from '../server/cli/analyze.js';
import { AnomalyLog } from '../server/decode/anomalies.js';
import { LineSplitter, MAX_LINE_BYTES } from '../server/capture/lines.js';
import { INFLATE_RATIO_FROM, MAX_INFLATE_RATIO } from '../server/capture/open.js';
import { MAX_CPUS, MAX_WALK, Reorderer, DEFAULT_REORDER } from '../server/decode/reorder.js';
import type { RecordEvent } from '../server/model/events.js';
import { mulberry32 } from './support/prng.js';
import { HostSession } from '../server/live/host-session.js';
import type { AgentHello, FlagSummary, HostView } from '../server/shared/wire.js';
import { PROTOCOL_VERSION } from '../server/shared/wire.js';
import { buildReport, type AnalysisReport } from '../server/report/build.js';
import { RULES } from '../server/rules/index.js';
import type { Rule } from '../server/rules/rule.js';
import { agent, BIN, startServe, until, type ServerProcess } from './support/live.js';
import { writeCapture } from './support/run.js';
import { traceToCapture } from './support/trace.js';

const root = join(import.meta.dirname, '..');
const SAMPLE = join(root, 'test', 'fixtures', 'sample.ljsonl.gz');
const FINDING4 = readFileSync(join(root, 'test', 'fixtures', 'rules', 'epoll-stale-fd-reregistered.trace'), 'utf8');
const lifetrace = (...args: string[]) => execa(process.execPath, [BIN, ...args], { reject: false });
const flagKey = (f: { rule: string; severity: string; count: number; objects: string[] }): string =>
  `${f.rule}|${f.severity}|${f.count}|${f.objects.join(',')}`;

/** A rule with a bug: throws on every fd_install, and at the end of input. */
const THROWS: Rule = {
  id: 'test.throws',
  severity: 'info',
  mailingList: '000',
  title: 'throws',
  explanation: 'a rule with a bug',
  needs: {},
  create: () => ({
    on: ['fd.install'],
    stage: 'before',
    observe() {
      throw new TypeError("Cannot read properties of undefined (reading 'file')");
    },
    finish() {
      throw new Error('at the end');
    },
  }),
};

/** The capture's header with `extra` fields (e.g. the CPUs that can report). */
function withHeader(capture: string, extra: Record<string, unknown>): string {
  const nl = capture.indexOf('\n');
  return JSON.stringify({ ...JSON.parse(capture.slice(0, nl)), ...extra }) + capture.slice(nl);
}

/** One fd_install record line of the generator's envelope. */
const fdi = (t: bigint, cpu: number, fd: number): string =>
  `{"type": "printf", "data": ${JSON.stringify(['fdi', t.toString(), cpu, 100, 100, fd, (0xffff888100000000n + BigInt(fd) * 0x1000n).toString(16), 'app'].join('\t'))}}`;
const HEADER = traceToCapture('1.000 0 100 app fdi 3 @a\n').split('\n')[0]!;

describe('a rule that throws is contained', () => {
  it('finding 4: epoll.stale-fd on an epitem registered again (its removal unseen): analyze reads to the end, no error', async () => {
    const r = await lifetrace('analyze', '--json', writeCapture(traceToCapture(FINDING4)));
    expect(r.exitCode, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as AnalysisReport;
    expect(j.summary.input_error).toBeNull();
    expect(j.summary.anomaly_counts).toEqual({});
    expect(j.summary.events).toBe(14); // every record, the last one after the old throw too
    expect(j.flags.filter((f) => f.rule === 'epoll.stale-fd')).toHaveLength(3);
  });

  it('no rule throws on a lossy stream: every rule fixture and the sample with records dropped, repeated and swapped at random', async () => {
    const dir = join(root, 'test', 'fixtures', 'rules');
    const captures = readdirSync(dir)
      .filter((f) => f.endsWith('.trace'))
      .map((f) => traceToCapture(readFileSync(join(dir, f), 'utf8')));
    captures.push(gunzipSync(readFileSync(SAMPLE)).toString());
    const failures: string[] = [];
    for (const [k, capture] of captures.entries()) {
      const [header, ...records] = capture.trimEnd().split('\n');
      for (let seed = 1; seed <= (k === captures.length - 1 ? 4 : 12); seed++) {
        const rnd = mulberry32(seed * 1000 + k);
        const out = [header!];
        for (let i = 0; i < records.length; i++) {
          const x = rnd();
          if (x < 0.15) continue; // lost
          if (x < 0.2 && i + 1 < records.length) {
            out.push(records[i + 1]!, records[i]!); // swapped
            i++;
          } else out.push(records[i]!);
          if (rnd() < 0.05) out.push(records[Math.floor(rnd() * records.length)]!); // an address seen again, out of turn
        }
        const r = buildReport(await analyzeFile(writeCapture(`${out.join('\n')}\n`)));
        for (const a of r.anomalies)
          if (a.kind === 'rule-error' || a.kind === 'model-error') failures.push(`capture ${k} seed ${seed}: ${a.message}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('counted as an anomaly naming the rule and the record; the other rules and the rest of the input as without it', async () => {
    const clean = buildReport(await analyzeFile(SAMPLE));
    const a = await analyzeFile(SAMPLE, { rules: [...RULES, THROWS] });
    const r = buildReport(a);
    const installs = a.decoder.info.records.file; // bounds the count: fd_install is one kind among the file family's
    expect(r.summary.input_error).toBeNull();
    expect(r.summary.events).toBe(clean.summary.events);
    expect(r.flags.map(flagKey)).toEqual(clean.flags.map(flagKey));
    const n = r.summary.anomaly_counts['rule-error']!;
    expect(n).toBeGreaterThan(1);
    expect(n).toBeLessThanOrEqual(installs + 1);
    const first = r.anomalies.find((x) => x.kind === 'rule-error')!;
    expect(first.message).toMatch(
      /^rule test\.throws threw on fd\.install \(\w+, pid \d+\): TypeError: Cannot read properties of undefined/,
    );
    expect(first.line).toBeGreaterThan(1);
    expect(r.anomalies.some((x) => x.kind === 'rule-error' && /threw on the end of input: Error: at the end/.test(x.message))).toBe(true);
    // What `lifetrace analyze` then says and exits with (3, before --fail-on's 1).
    const status = analyzeStatus(a, r, 'info');
    expect(status.status).toBe(3);
    expect(status.message).toMatch(
      new RegExp(
        `^the analysis failed on ${n} record\\(s\\), its flags may be incomplete; first, line ${first.line}: rule test\\.throws threw`,
      ),
    );
    expect(analyzeStatus(await analyzeFile(SAMPLE), clean, 'info').status).toBe(clean.flags.length > 0 ? 1 : 0);
  });

  it("the decode worker's account of the stream (adopted at the end) keeps the analysis side's rule errors", () => {
    const log = new AnomalyLog();
    log.add('rule-error', 7, 'rule x threw');
    log.add('late-event', 8, 'mine, replaced');
    log.adopt(
      new Map([
        ['late-event', 2],
        ['bad-record', 1],
      ]),
      [{ kind: 'bad-record', line: 3, message: 'theirs' }],
    );
    expect(Object.fromEntries(log.counts)).toEqual({ 'rule-error': 1, 'late-event': 2, 'bad-record': 1 });
    expect(log.examples.map((x) => x.line)).toEqual([3, 7]);
    expect(log.total(['rule-error', 'model-error'])).toBe(1);
  });

  it('in the server: a host whose rule throws goes on, and so do the others', () => {
    const hello = (host: string): AgentHello => ({
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      run: `${host}-run-0000`,
      host,
      mode: 'live',
      header: JSON.parse(HEADER),
      rules: [],
    });
    const flags: FlagSummary[] = [];
    const out = { flag: (f: FlagSummary) => void flags.push(f), losses: () => {} };
    const bad = new HostSession(hello('bad'), { rules: [...RULES, THROWS] }, out, Date.now);
    const good = new HostSession(hello('good'), {}, out, Date.now);
    const body = Buffer.from(traceToCapture(FINDING4).split('\n').slice(1).join('\n'));
    for (const s of [bad, good]) {
      expect(s.ingest(1, body)).toEqual({ ok: true });
      expect(s.ingest(1, body)).toEqual({ ok: false, error: 'duplicate' }); // a resent batch: acknowledged, not analyzed again
      s.end();
    }
    const badView: HostView = bad.view();
    expect(badView.anomalyKinds['rule-error']).toBe(6); // five fd_installs and the end
    expect(badView.events).toBe(good.view().events);
    expect(bad.flags().map((f) => f.rule)).toEqual(good.flags().map((f) => f.rule));
    expect(good.view().anomalies).toBe(0);
  });

  describe('finding 4 through the real server and agents', () => {
    let server: ServerProcess;
    beforeAll(async () => {
      server = await startServe();
    });
    afterAll(async () => server?.stop());

    it('the batch that made the rule throw is analyzed, the server and the other hosts live on', async () => {
      const capture = writeCapture(traceToCapture(FINDING4));
      const [a, b] = await Promise.all([
        agent(server.url, ['--replay', capture, '--speed', 'max', '--host', 'stale']),
        agent(server.url, ['--replay', SAMPLE, '--speed', 'max', '--host', 'neighbour']),
      ]);
      expect(a.exitCode, a.all).toBe(0);
      expect(b.exitCode, b.all).toBe(0);
      const hosts = await until(
        async () => {
          const h = await server.get<HostView[]>('/api/hosts');
          return h.filter((x) => x.ended).length === 2 ? h : undefined;
        },
        20_000,
        'both streams to end',
      );
      const stale = hosts.find((h) => h.host === 'stale')!;
      expect(stale.events).toBe(14);
      expect(stale.anomalies).toBe(0);
      const flags = await server.get<FlagSummary[]>('/api/flags?host=stale&limit=100');
      expect(flags.filter((f) => f.rule === 'epoll.stale-fd')).toHaveLength(3);
      expect(hosts.find((h) => h.host === 'neighbour')!.events).toBeGreaterThan(100);
      expect(await server.get<{ version: string }>('/api/server')).toHaveProperty('version');
    }, 60_000);
  });
});

describe('finding 8: bounds where capture bytes enter the analysis', () => {
  it(`records spread over 65,536 CPU numbers: those past ${MAX_CPUS} are counted and analyzed in arrival order, none lost`, async () => {
    const lines = [HEADER];
    const n = 40_000;
    for (let i = 0; i < n; i++) lines.push(fdi(1_000_000_000_000n + BigInt(i) * 1000n, (i * 7919) % 65_536, 3 + (i % 500)));
    const a = await analyzeFile(writeCapture(`${lines.join('\n')}\n`));
    const past = lines.slice(1).filter((_l, i) => (i * 7919) % 65_536 >= MAX_CPUS).length;
    expect(a.events).toBe(n);
    expect(a.decoder.anomalies.counts.get('bad-cpu')).toBe(past);
    expect(a.decoder.anomalies.examples.find((x) => x.kind === 'bad-cpu')!.message).toMatch(
      /^fd\.install on CPU \d+, past the 1024 CPU numbers/,
    );
  });

  it(`records whose times run backwards on one CPU (each one walked the whole queue): past ${MAX_WALK} back they wait in a heap, and come out in order`, () => {
    for (const seed of [1, 2, 3]) {
      const rnd = mulberry32(seed);
      const out: [number, number][] = [];
      let late = 0;
      const r = new Reorderer(
        (ev, t) => out.push([t, ev.line]),
        () => late++,
        { ...DEFAULT_REORDER, cpus: 2 },
      );
      const n = 30_000;
      for (let i = 0; i < n; i++) {
        // Mostly backwards, some forwards, some ties, on two CPUs: every order the ring and heap must merge.
        const t = 1e9 - i * 10 + Math.floor(rnd() * 4) * (rnd() < 0.2 ? 5_000 : 10);
        r.push({ kind: 'fd.install', t, cpu: i % 3 === 0 ? 1 : 0, line: i + 2 } as unknown as RecordEvent);
      }
      r.flush();
      expect(late).toBe(0);
      expect(out).toHaveLength(n);
      const sorted = [...out].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      expect(out).toEqual(sorted);
    }
  });

  it('a line longer than the bound, in any chunking: skipped and counted, the lines around it analyzed', async () => {
    const before = traceToCapture('1.000 0 100 app fdi 3 @a\n');
    const after = traceToCapture('1.001 0 100 app fdi 4 @b\n').split('\n').slice(1).join('\n');
    const long = Buffer.alloc(MAX_LINE_BYTES + 10, 'x');
    const content = Buffer.concat([Buffer.from(before), long, Buffer.from('\n'), Buffer.from(after)]);
    for (const chunk of [1 << 20, 4096, 7 << 20]) {
      const got: string[] = [];
      const long: number[] = [];
      const split = new LineSplitter(
        (buf, s, e, n) => got.push(`${n}:${buf.toString('utf8', s, Math.min(e, s + 20))}`),
        undefined,
        (n, bytes) => long.push(n, bytes),
      );
      for (let i = 0; i < content.length; i += chunk) split.push(content.subarray(i, i + chunk));
      expect(split.end()).toBeUndefined();
      expect(long).toEqual([3, MAX_LINE_BYTES + 10]);
      expect(got.map((l) => l.split(':')[0])).toEqual(['1', '2', '4']);
    }
    // One 48 MB line in a 50 KB gzip (the finding had 256 MB in 260 KB, which the inflation bound now
    // refuses as well): no quadratic join, one anomaly.
    const huge = Buffer.concat([Buffer.from(before), Buffer.alloc(48 << 20, 'y'), Buffer.from('\n'), Buffer.from(after)]);
    const path = writeCapture(gzipSync(huge), 'long-line.ljsonl.gz');
    const r = buildReport(await analyzeFile(path));
    expect(r.summary.anomaly_counts).toEqual({ 'long-line': 1 });
    expect(r.summary.events).toBe(2);
  });

  it(`a gzip bomb: reading stops once it inflates past ${MAX_INFLATE_RATIO} times its size, what came before is analyzed`, async () => {
    const record = `${fdi(1_000_000_000_000n, 0, 3)}\n`;
    const body = Buffer.alloc(INFLATE_RATIO_FROM + (16 << 20), record);
    const gz = gzipSync(Buffer.concat([Buffer.from(`${HEADER}\n`), body]), { level: 9 });
    expect(body.length / gz.length).toBeGreaterThan(MAX_INFLATE_RATIO);
    const r = buildReport(await analyzeFile(writeCapture(gz, 'bomb.ljsonl.gz')));
    expect(r.summary.input_error).toMatch(/inflates to over 100 times its size .*: refused as a gzip bomb/);
    expect(r.summary.events).toBeGreaterThan(0);
    expect(r.summary.events).toBeLessThan(body.length / record.length);
  });

  it('a small gzip that inflates a lot reads to its end (the ratio counts only past INFLATE_RATIO_FROM)', async () => {
    const record = `${fdi(1_000_000_000_000n, 0, 3)}\n`;
    const n = 2000;
    const r = buildReport(await analyzeFile(writeCapture(gzipSync(`${HEADER}\n${record.repeat(n)}`), 'small-repetitive.ljsonl.gz')));
    expect(r.summary.input_error).toBeNull();
    expect(r.summary.events).toBe(n);
  });
});

describe('finding 8 through the real server: an uploaded capture over 65,536 CPU numbers (and a long line), replayed', () => {
  let server: ServerProcess;
  let data: string;
  beforeAll(async () => {
    data = mkdtempSync(join(tmpdir(), 'lifetrace-engine-'));
    server = await startServe([], data);
  });
  afterAll(async () => server?.stop());

  it("the replay (its first pass on a worker) gives analyze's events and anomalies; the API answers throughout", async () => {
    const lines = [HEADER];
    for (let i = 0; i < 40_000; i++) lines.push(fdi(1_000_000_000_000n + BigInt(i) * 1000n, (i * 7919) % 65_536, 3 + (i % 500)));
    lines.splice(20_000, 0, 'z'.repeat(MAX_LINE_BYTES + 1)); // and one line too long to read, counted in its place
    const body = gzipSync(`${lines.join('\n')}\n`);
    const offline = JSON.parse((await lifetrace('analyze', '--json', writeCapture(body, 'spread.ljsonl.gz'))).stdout) as AnalysisReport;
    const up = await fetch(new URL('/api/captures/spread.ljsonl.gz', server.url), {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body,
    });
    expect(up.status).toBe(201);
    const started = fetch(new URL('/api/replay', server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ capture: 'spread.ljsonl.gz', speed: 'max' }),
    });
    expect(await server.get<{ version: string }>('/api/server')).toHaveProperty('version');
    const { host } = (await (await started).json()) as { host: string };
    const done = await until(
      async () => {
        expect(await server.get<{ version: string }>('/api/server')).toHaveProperty('version');
        const h = (await server.get<HostView[]>('/api/hosts')).find((x) => x.host === host);
        return h?.replay?.finished ? h : undefined;
      },
      60_000,
      'the replay to finish',
    );
    expect(done.events).toBe(offline.summary.events);
    expect(done.anomalyKinds).toEqual(offline.summary.anomaly_counts);
    expect(done.anomalyKinds['bad-cpu']).toBeGreaterThan(30_000);
    expect(done.anomalyKinds['long-line']).toBe(1);
  }, 90_000);
});

describe('a long line through an agent replay', () => {
  it('agent --replay puts a line too long to send in its place as a counted long-line, as analyze counts it', async () => {
    const data = mkdtempSync(join(tmpdir(), 'lifetrace-engine-'));
    const server = await startServe([], data);
    try {
      const lines = [HEADER];
      for (let i = 0; i < 2_000; i++) lines.push(fdi(1_000_000_000_000n + BigInt(i) * 1000n, i % 4, 3 + (i % 500)));
      lines.splice(1_000, 0, 'z'.repeat(MAX_LINE_BYTES + 1));
      const path = writeCapture(gzipSync(`${lines.join('\n')}\n`), 'agent-long.ljsonl.gz');
      const offline = JSON.parse((await lifetrace('analyze', '--json', path)).stdout) as AnalysisReport;
      const r = await agent(server.url, ['--replay', path, '--speed', 'max', '--host', 'longline']);
      expect(r.exitCode, r.all).toBe(0);
      const h = await until(
        async () => (await server.get<HostView[]>('/api/hosts')).find((x) => x.host === 'longline' && x.ended),
        20_000,
        'the stream to end',
      );
      expect(h.events).toBe(offline.summary.events);
      expect(h.anomalyKinds).toEqual(offline.summary.anomaly_counts);
      expect(h.anomalyKinds['long-line']).toBe(1);
    } finally {
      await server.stop();
    }
  }, 60_000);
});

describe('minor: max-speed replays show late-event anomalies that analyze does not', () => {
  // CPU 0's records, then CPU 1's from the same second: the file order bpftrace's per-CPU drain gives.
  const src = [
    '1.000 0 100 app fdi 3 @a',
    '1.500 0 100 app fdi 4 @b',
    '2.000 0 100 app fdi 5 @c',
    '1.100 1 200 app fdi 3 @d',
    '1.600 1 200 app fdi 4 @e',
  ].join('\n');
  const capture = withHeader(traceToCapture(src), { cpus: 2 });
  const [header, ...records] = capture.trimEnd().split('\n');

  it('analyze orders them without a late event', async () => {
    const r = buildReport(await analyzeFile(writeCapture(capture)));
    expect(r.summary.anomaly_counts).toEqual({});
  });

  // A quiet second between the two batches: the sender was held up (a busy event loop, a slow disk).
  const cases: { what: string; mode: 'live' | 'replay'; extra?: Record<string, unknown>; pace?: number; late: boolean }[] = [
    {
      what: "an agent's replay at full speed (its header says replay_speed max): as analyze",
      mode: 'replay',
      extra: { replay_speed: 'max' },
      late: false,
    },
    { what: 'a server-side replay at full speed or paused (pace 0): as analyze', mode: 'replay', pace: 0, late: false },
    { what: 'a replay paced at 1x: settled as live, the late record is said', mode: 'replay', extra: { replay_speed: 1 }, late: true },
    { what: 'a live stream: settled, the late record is said', mode: 'live', late: true },
  ];
  for (const c of cases) {
    it(c.what, () => {
      let now = 1_000_000;
      const h = { ...JSON.parse(header!), ...c.extra };
      const hello: AgentHello = {
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        run: 'r-00000000',
        host: 'h',
        mode: c.mode,
        header: h,
        rules: [],
      };
      const s = new HostSession(hello, {}, { flag: () => {}, losses: () => {} }, () => now);
      if (c.pace !== undefined) s.setPace(c.pace);
      s.ingest(1, Buffer.from(`${records.slice(0, 3).join('\n')}\n`));
      now += 1000;
      s.tick(now);
      s.ingest(2, Buffer.from(`${records.slice(3).join('\n')}\n`));
      s.end();
      expect(s.view().events).toBe(5);
      expect(s.view().anomalyKinds).toEqual(c.late ? { 'late-event': 2 } : {});
    });
  }
});
