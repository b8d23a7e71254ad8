/**
 * Property-based tests (fast-check) of everything that reads untrusted input: the decoder, the
 * capture reader, the agent protocol and the REST parameters. Whatever comes in, nothing throws:
 * bad input is a clear error or a counted anomaly with its line number, and the good input around
 * it gives what it gives without the bad. All through the real code paths, no mocks.
 *
 * A failing property prints its seed and shrunk counterexample; rerun one with
 * `FC_SEED=<seed> npx vitest run test/properties.test.ts`.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { constants as zlib, gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { Analysis, analyzeFile } from '../server/analyze/pipeline.js';
import { parseAgentMessage } from '../server/live/hello.js';
import { startServer, type RunningServer } from '../server/live/server.js';
import { BATCH_HEAD, decodeBatchHead, encodeBatchHead, PROTOCOL_VERSION, type HostView } from '../server/shared/wire.js';
import { buildReport, type AnalysisReport } from '../server/report/build.js';
import { analyzePacked } from './support/run.js';
import { generateCapture } from './bench/generate.js';
import {
  blankLine,
  brokenRecord,
  chunkSizes,
  fixtureCaptures,
  garbageBytes,
  garbageLine,
  isGoodRecord,
  notACount,
  validHello,
  type FixtureCapture,
} from './support/arbitraries.js';

const seed = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
const params = (numRuns: number): fc.Parameters<unknown> => ({ numRuns, ...(seed === undefined ? {} : { seed }) });

const work = mkdtempSync(join(tmpdir(), 'lifetrace-props-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let files = 0;
const writeFile = (content: Buffer, suffix = '.ljsonl'): string => {
  const p = join(work, `f${++files}${suffix}`);
  writeFileSync(p, content);
  return p;
};

/** The report of `bytes` pushed in chunks of the given sizes (cycled), or whole. */
function analyze(bytes: Buffer, sizes: readonly number[] = [bytes.length || 1]): AnalysisReport {
  const a = new Analysis();
  for (let i = 0, k = 0; i < bytes.length; k++) {
    const n = Math.max(1, sizes[k % sizes.length]!);
    a.push(bytes.subarray(i, i + n));
    i += n;
  }
  return buildReport(a.end());
}

/** Anomalies a bad line yields (late-event, truncated-line, no-header... are about the stream, not one line). */
const LINE_KINDS = ['malformed-json', 'bad-envelope', 'unknown-record', 'bad-record'];
const total = (counts: Record<string, number>, kinds?: readonly string[]): number =>
  Object.entries(counts)
    .filter(([k]) => kinds === undefined || kinds.includes(k))
    .reduce((n, [, v]) => n + v, 0);
const sum = (o: Record<string, number>): number => Object.values(o).reduce((n, v) => n + v, 0);

/** Everything a report says that line numbers cannot change, with the line numbers mapped by `map`. */
function remapped(r: AnalysisReport, map: (line: number) => number) {
  return {
    events: r.summary.events,
    records: r.summary.records_by_family,
    objects: r.summary.objects,
    flags_by_rule: r.summary.flags_by_rule,
    lost: r.lost_events,
    loss_windows: r.loss_windows.map((w) => ({ ...w, line: map(w.line) })),
    diagnostics: r.summary.diagnostics.map((d) => ({ ...d, line: map(d.line) })),
    // uncertainty reasons quote line numbers: compared by count (the confidence says the rest)
    flags: r.flags.map((f) => ({
      ...f,
      uncertainty: f.uncertainty.length,
      evidence: f.evidence.map((e) => ({ ...e, line: map(e.line) })),
    })),
  };
}

const FIXTURES = fixtureCaptures();
const CLEAN = new Map(FIXTURES.map((f) => [f.name, analyze(Buffer.from(`${f.lines.join('\n')}\n`))]));
/** Fixtures whose every record is good (no anomaly at all). */
const SPOTLESS = FIXTURES.filter((f) => total(CLEAN.get(f.name)!.summary.anomaly_counts) === 0);
const fixture = fc.constantFrom(...FIXTURES);

describe('the decoder', () => {
  it('arbitrary bytes (with or without a header): never throws; every line counted, every anomaly on a real line; any chunking gives the same report', () => {
    const header = FIXTURES[0]!.lines[0]!;
    const noise = fc.oneof(
      fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
      // Mostly newlines and bytes that look like JSON, to reach past the first line.
      fc
        .array(
          fc.tuple(
            fc.oneof(
              garbageBytes,
              blankLine,
              fc.constantFrom(...'{}"\\\t\r:,[]0123456789abcdef-'.split('')).map((c) => Buffer.from(c)),
            ),
            fc.boolean(),
          ),
          { maxLength: 60 },
        )
        .map((parts) => Buffer.concat(parts.flatMap(([p, nl]) => [p, Buffer.from(nl ? '\n' : '')]))),
    );
    fc.assert(
      fc.property(fc.boolean(), noise, chunkSizes, (withHeader, body, sizes) => {
        const bytes = withHeader ? Buffer.concat([Buffer.from(`${header}\n`), body]) : body;
        const r = analyze(bytes);
        const newlines = bytes.reduce((n, b) => n + (b === 10 ? 1 : 0), 0);
        const cut = bytes.length > 0 && bytes[bytes.length - 1] !== 10;
        expect(r.summary.lines).toBe(newlines + (cut ? 1 : 0));
        expect(r.summary.anomaly_counts['truncated-line'] ?? 0).toBe(cut ? 1 : 0);
        for (const a of r.anomalies)
          expect(a.line >= 1 && a.line <= r.summary.lines, `anomaly ${a.kind} on line ${a.line} of ${r.summary.lines}`).toBe(true);
        expect(() => JSON.stringify(r)).not.toThrow();
        expect(JSON.stringify(analyze(bytes, sizes))).toBe(JSON.stringify(r));
      }),
      params(300),
    );
  });

  /** A line of bpftrace-ish JSON: envelopes of every type with any data, and printf records with known tags and any fields. */
  const jsonish: fc.Arbitrary<string> = (() => {
    const field = fc.oneof(
      fc.stringMatching(/^[0-9]{1,22}$/),
      fc.stringMatching(/^-?[0-9a-f]{1,18}$/),
      fc.string({ maxLength: 12 }),
      fc.constant('0'),
    );
    const tags = [
      'ready',
      'alloc',
      'fput',
      'fput_r',
      'last',
      'fdi',
      'fdc',
      'ins',
      'rm',
      'poll',
      'ctl',
      'ctl_r',
      'd_alloc',
      'dput',
      'rd',
      'rd_r',
      'pw',
      'efs_new',
      'nosuch',
    ];
    const record = fc
      .tuple(fc.constantFrom(...tags), fc.stringMatching(/^[0-9]{9,21}$/), fc.array(field, { maxLength: 8 }))
      .map(([tag, t, fs]) =>
        JSON.stringify({ type: 'printf', data: [tag, t, ...fs].join('\t') }).replace(
          '{"type":"printf","data":',
          '{"type": "printf", "data": ',
        ),
      );
    const types = ['printf', 'lost_events', 'attached_probes', 'map', 'errorf', 'warnf', 'helper_error', 'runtime_error', 'time', 'join'];
    const data = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.dictionary(fc.constantFrom('events', 'count', 'probes', '@map', 'msg'), fc.oneof(fc.nat(), fc.jsonValue({ maxDepth: 1 })), {
        maxKeys: 2,
      }),
    );
    const envelope = fc
      .record({ type: fc.oneof(fc.constantFrom(...types), fc.jsonValue()), data, msg: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: [] })
      .map((o) => JSON.stringify(o));
    return fc.oneof(
      record,
      envelope,
      fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 40 }).filter((s) => !s.includes('\n')),
    );
  })();

  it('arbitrary JSON-ish lines after a header: never throws; each line is a record, a loss, a line bpftrace may print, or an anomaly; the summary stays numbers', () => {
    const header = FIXTURES[0]!.lines[0]!;
    fc.assert(
      fc.property(fc.array(jsonish, { maxLength: 40 }), chunkSizes, (lines, sizes) => {
        const bytes = Buffer.from(`${[header, ...lines].join('\n')}\n`);
        const a = new Analysis();
        a.push(bytes);
        a.end();
        const r = buildReport(a);
        // The lines the reading rules let pass without an event or an anomaly.
        let quiet = 0;
        for (const l of lines) {
          if (l.trim() === '') {
            quiet++;
            continue;
          }
          let v: unknown;
          try {
            v = JSON.parse(l);
          } catch {
            continue;
          }
          const o = v as { type?: unknown; data?: unknown };
          if (typeof v !== 'object' || v === null || Array.isArray(v)) continue;
          // attached_probes is quiet when its count is one (or absent); a bad count is an anomaly.
          const probes = (o.data as { probes?: unknown } | undefined)?.probes;
          const aCount =
            probes === undefined ||
            (typeof probes === 'number' && Number.isSafeInteger(probes) && probes >= 0) ||
            (typeof probes === 'string' && /^\d{1,15}$/.test(probes));
          if ((o.type === 'attached_probes' && aCount) || ['errorf', 'warnf', 'helper_error', 'runtime_error'].includes(o.type as string))
            quiet++;
          else if (o.type === 'map' && Object.keys(o.data ?? {}).length > 0) quiet++;
          else if (o.type === 'printf' && typeof o.data === 'string' && o.data.split('\t')[0] === 'ready') quiet++;
        }
        const decoded = sum(r.summary.records_by_family) + a.losses.reports + total(r.summary.anomaly_counts, LINE_KINDS);
        expect(decoded).toBe(lines.length - quiet);
        // Counters a bad line must not poison (a NaN or a negative count is data lost silently).
        for (const [what, n] of [
          ['attached_probes', r.summary.attached_probes],
          ['lost_events', r.lost_events],
          ['events', r.summary.events],
        ] as const) {
          expect(Number.isSafeInteger(n) && n >= 0, `${what} = ${n}`).toBe(true);
        }
        for (const w of r.loss_windows)
          expect(Number.isSafeInteger(w.count) && w.count >= 0, `a loss window of ${w.count} events`).toBe(true);
        expect(JSON.stringify(analyze(bytes, sizes))).toBe(JSON.stringify(r));
      }),
      params(300),
    );
  });

  /** A fixture capture with garbage lines inserted after its header, and some good lines ending in CR LF. */
  const withGarbage = fixture.chain((f) =>
    fc.tuple(
      fc.constant(f),
      fc.array(
        fc.tuple(
          fc.integer({ min: 1, max: f.lines.length }),
          fc.oneof(
            { weight: 4, arbitrary: garbageLine(f) },
            { weight: 1, arbitrary: blankLine.map((bytes) => ({ how: 'blank' as const, bytes })) },
          ),
        ),
        { minLength: 1, maxLength: 8 },
      ),
      fc.array(fc.boolean(), { minLength: f.lines.length, maxLength: f.lines.length }),
    ),
  );

  /** The capture with `inserts` ([position in the clean lines, line]) and CR LF where `crlf` says; and where each clean line went. */
  function corrupt(f: FixtureCapture, inserts: [number, { how: string; bytes: Buffer }][], crlf: boolean[]) {
    const at = new Map<number, { how: string; bytes: Buffer }[]>();
    for (const [pos, g] of inserts) at.set(pos, [...(at.get(pos) ?? []), g]);
    const parts: Buffer[] = [];
    const lineOf: number[] = []; // clean line i + 1 -> its line number now
    const garbage: { line: number; how: string }[] = [];
    let n = 0;
    for (let i = 0; i <= f.lines.length; i++) {
      for (const g of at.get(i) ?? []) {
        parts.push(g.bytes, Buffer.from('\n'));
        n++;
        if (g.how !== 'blank') garbage.push({ line: n, how: g.how });
      }
      if (i < f.lines.length) {
        parts.push(Buffer.from(f.lines[i]! + (crlf[i] ? '\r\n' : '\n')));
        lineOf[i + 1] = ++n;
      }
    }
    return { bytes: Buffer.concat(parts), lineOf, garbage, lines: n };
  }

  it("garbage lines between good ones: each is one counted anomaly on its line; the good records give exactly the clean capture's events and flags", () => {
    fc.assert(
      fc.property(withGarbage, chunkSizes, ([f, inserts, crlf], sizes) => {
        const clean = CLEAN.get(f.name)!;
        const c = corrupt(f, inserts, crlf);
        const r = analyze(c.bytes, sizes);
        expect(r.summary.lines).toBe(c.lines);
        // Each garbage line is an anomaly on its own line number, and nothing else is new.
        const byLine = new Map<number, string[]>();
        for (const a of r.anomalies) byLine.set(a.line, [...(byLine.get(a.line) ?? []), a.kind]);
        for (const g of c.garbage) expect(byLine.get(g.line), `${g.how} garbage on line ${g.line}`).toHaveLength(1);
        expect(total(r.summary.anomaly_counts)).toBe(total(clean.summary.anomaly_counts) + c.garbage.length);
        const garbageLines = new Set(c.garbage.map((g) => g.line));
        expect(r.anomalies.filter((a) => !garbageLines.has(a.line))).toEqual(
          clean.anomalies.map((a) => ({ ...a, line: c.lineOf[a.line]! })),
        );
        // The good records around them: the same events, objects, losses and flags (lines shifted).
        expect(remapped(r, (l) => l)).toEqual(remapped(clean, (l) => c.lineOf[l]!));
        expect(r.summary.header).toEqual(clean.summary.header);
      }),
      params(200),
    );
  });

  it('good records broken in place (cut, a field more or less, a huge number, a bad address, an unknown tag, bad UTF-8, not JSON): each is an anomaly on its line, never an event', () => {
    const broken = fc.constantFrom(...SPOTLESS).chain((f) => {
      const records = f.lines.map((l, i) => (i > 0 && isGoodRecord(l) ? i : -1)).filter((i) => i > 0);
      return fc.tuple(
        fc.constant(f),
        fc
          .uniqueArray(fc.constantFrom(...records), { minLength: 1, maxLength: 4 })
          .chain((idx) => fc.tuple(...idx.map((i) => brokenRecord(f.lines[i]!).map((b) => [i, b] as const)))),
      );
    });
    fc.assert(
      fc.property(broken, chunkSizes, ([f, breaks], sizes) => {
        const clean = CLEAN.get(f.name)!;
        const lines: Buffer[] = f.lines.map((l) => Buffer.from(l));
        for (const [i, b] of breaks) lines[i] = b.bytes;
        const bytes = Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')]));
        const r = analyze(bytes, sizes);
        for (const [i, b] of breaks) {
          const here = r.anomalies.filter((a) => a.line === i + 1);
          expect(
            here.map((a) => a.kind),
            `${b.how}: ${JSON.stringify(b.bytes.toString('utf8'))}`,
          ).toHaveLength(1);
          expect(LINE_KINDS).toContain(here[0]!.kind);
        }
        expect(total(r.summary.anomaly_counts, LINE_KINDS)).toBe(breaks.length);
        expect(sum(r.summary.records_by_family)).toBe(sum(clean.summary.records_by_family) - breaks.length);
        expect(r.summary.lines).toBe(clean.summary.lines);
      }),
      params(150),
    );
  });

  // bpftrace prints these counts as non-negative integers. Anything else (Number() turns "" and [] into
  // 0, true into 1, "x" into NaN) is a bad line to count, not a loss of 0 or a NaN total.
  it("bpftrace's count lines (lost_events, attached_probes) whose count is not a non-negative integer: a bad-envelope anomaly on the line, and the totals stay counts", () => {
    const f = FIXTURES.find((x) => x.name === 'epoll-stale-fd.trace')!;
    const clean = CLEAN.get(f.name)!;
    const bad = fc.tuple(fc.constantFrom('lost_events/events', 'lost_events/count', 'attached_probes/probes'), notACount).map(([w, v]) => {
      const [type, key] = w.split('/');
      return JSON.stringify({ type, data: { [key!]: v } });
    });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: f.lines.length }), bad, (pos, line) => {
        const lines = [...f.lines.slice(0, pos), line, ...f.lines.slice(pos)];
        const r = analyze(Buffer.from(`${lines.join('\n')}\n`));
        expect(
          r.anomalies.filter((a) => a.line === pos + 1).map((a) => a.kind),
          line,
        ).toEqual(['bad-envelope']);
        expect(r.lost_events, line).toBe(clean.lost_events);
        expect(r.loss_windows, line).toEqual(clean.loss_windows);
        expect(r.summary.attached_probes, line).toBe(clean.summary.attached_probes);
      }),
      params(200),
    );
  });

  it("the decode worker's packed path gives the report the lines give, on corrupted captures", () => {
    fc.assert(
      fc.property(withGarbage, fc.integer({ min: 1, max: 5000 }), ([f, inserts, crlf], chunk) => {
        const { bytes } = corrupt(f, inserts, crlf);
        expect(JSON.stringify(analyzePacked(bytes, chunk))).toBe(JSON.stringify(analyze(bytes)));
      }),
      params(100),
    );
  });
});

describe('the capture reader', () => {
  let generated: Buffer;
  beforeAll(async () => {
    const p = join(work, 'generated.ljsonl');
    await generateCapture(p, 3000, 7);
    generated = readFileSync(p);
  });
  const source = fc.oneof(
    fixture.map((f) => ({ name: f.name, bytes: Buffer.from(`${f.lines.join('\n')}\n`) })),
    fc.constant({ name: 'generated', bytes: Buffer.alloc(0) }),
  );
  const bytesOf = (s: { name: string; bytes: Buffer }): Buffer => (s.name === 'generated' ? generated : s.bytes);

  it('a plain capture cut at any byte: analyzeFile resolves; the cut line is reported; the rest is exactly the capture up to its last complete line', async () => {
    const wholes = new Map<string, AnalysisReport>();
    await fc.assert(
      fc.asyncProperty(source, fc.double({ min: 0, max: 1, noNaN: true }), async (s, where) => {
        const content = bytesOf(s);
        const whole = wholes.get(s.name) ?? analyze(content);
        wholes.set(s.name, whole);
        const k = Math.floor(where * content.length);
        const cut = content.subarray(0, k);
        const r = buildReport(await analyzeFile(writeFile(cut)));
        expect(r.summary.input_error).toBeNull();
        // What the file reader handed over is exactly the bytes.
        expect(JSON.stringify(r)).toBe(JSON.stringify(analyze(cut)));
        const lastNl = cut.lastIndexOf(10);
        const complete = analyze(cut.subarray(0, lastNl + 1));
        if (lastNl === k - 1) {
          expect(r).toEqual(complete);
        } else {
          const n = complete.summary.lines + 1;
          expect(r.summary.lines).toBe(n);
          expect(r.anomalies.filter((a) => a.kind === 'truncated-line').map((a) => a.line)).toEqual([n]);
          // The cut line is one anomaly (a line cut before its last byte cannot be a record), or,
          // cut just before its newline, the whole record; nothing before it changes.
          const lineEnd = content.indexOf(10, lastNl + 1);
          const whole_line = lineEnd === k || (lineEnd === k + 1 && content[k] === 13);
          if (!whole_line) {
            // (on line 1 a cut header is also no header: 'no-header' says so, whatever the line is)
            expect(r.anomalies.filter((a) => a.line === n && a.kind !== 'truncated-line' && a.kind !== 'no-header')).toHaveLength(1);
            expect(remapped(r, (l) => l)).toEqual(remapped(complete, (l) => l));
          }
        }
        // A prefix of the capture: never more of anything than the whole.
        expect(r.summary.events).toBeLessThanOrEqual(whole.summary.events);
        for (const [fam, n] of Object.entries(r.summary.records_by_family))
          expect(n).toBeLessThanOrEqual(whole.summary.records_by_family[fam]!);
      }),
      params(120),
    );
  });

  it('a gzip capture cut at any byte: analyzeFile resolves with an input error naming the line; what came before the break is analyzed exactly', async () => {
    const gz = new Map<string, Buffer>();
    await fc.assert(
      fc.asyncProperty(source, fc.double({ min: 0, max: 1, noNaN: true }), async (s, where) => {
        const content = bytesOf(s);
        const packed = gz.get(s.name) ?? gzipSync(content);
        gz.set(s.name, packed);
        const k = Math.floor(where * packed.length);
        const cut = packed.subarray(0, k);
        const r = buildReport(await analyzeFile(writeFile(cut, '.ljsonl.gz')));
        if (k < 2) {
          // Not even the gzip magic: read as the plain bytes they are.
          expect(JSON.stringify(r)).toBe(JSON.stringify(analyze(cut)));
          return;
        }
        if (k === packed.length) {
          expect(r.summary.input_error).toBeNull();
          expect(JSON.stringify(r)).toBe(JSON.stringify(analyze(content)));
          return;
        }
        // Every byte that can be decompressed before the break was analyzed, and nothing else.
        let before: Buffer;
        try {
          before = gunzipSync(cut, { finishFlush: zlib.Z_SYNC_FLUSH });
        } catch {
          before = Buffer.alloc(0);
        }
        expect(content.subarray(0, before.length).equals(before)).toBe(true);
        // The error names the last complete line (a partial one after it is the truncated-line anomaly).
        const complete = before.reduce((n, b) => n + (b === 10 ? 1 : 0), 0);
        expect(r.summary.input_error).toMatch(new RegExp(`reading stopped after line ${complete}: `));
        expect(JSON.stringify({ ...r, summary: { ...r.summary, input_error: null } })).toBe(JSON.stringify(analyze(before)));
      }),
      params(120),
    );
  });
});

describe('the agent protocol', () => {
  const isTyped = (r: ReturnType<typeof parseAgentMessage>): boolean => {
    if (!r.ok) return r.error.length > 0;
    const m = r.value;
    if (m.type === 'end') return typeof m.lastSeq === 'number' && typeof m.reason === 'string' && m.reason.length <= 512;
    return (
      m.type === 'hello' &&
      m.protocol === PROTOCOL_VERSION &&
      /^[A-Za-z0-9._:-]{1,128}$/.test(m.host) &&
      /^[A-Za-z0-9._:-]{1,128}$/.test(m.run) &&
      (m.mode === 'live' || m.mode === 'replay') &&
      typeof m.header === 'object' &&
      m.header !== null &&
      Array.isArray(m.rules)
    );
  };
  /** Objects that look like messages, each field of any type. */
  const messageish = fc.record(
    {
      type: fc.oneof(fc.constantFrom('hello', 'end', 'ack', 'welcome'), fc.jsonValue()),
      protocol: fc.oneof(fc.constant(PROTOCOL_VERSION), fc.jsonValue()),
      run: fc.oneof(fc.constant('run-1'), fc.jsonValue()),
      host: fc.oneof(fc.constant('h'), fc.constant('../../etc'), fc.jsonValue()),
      mode: fc.oneof(fc.constantFrom('live', 'replay'), fc.jsonValue()),
      label: fc.jsonValue(),
      header: fc.oneof(fc.constant({}), fc.jsonValue()),
      rules: fc.oneof(fc.constant([]), fc.array(fc.jsonValue()), fc.jsonValue()),
      lastSeq: fc.jsonValue(),
      reason: fc.jsonValue(),
    },
    { requiredKeys: [] },
  );

  it('parseAgentMessage: any text, any JSON, any message-like object gives a typed message or a reason, never a throw', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string({ unit: 'binary' }),
          fc.jsonValue().map((v) => JSON.stringify(v)),
          messageish.map((v) => JSON.stringify(v)),
        ),
        (text) => {
          expect(isTyped(parseAgentMessage(text))).toBe(true);
        },
      ),
      { ...params(1000), examples: [[JSON.stringify({ type: 'hello', protocol: { toString: 0 } })]] },
    ); // once found: String() of it threw
  });

  it('a valid hello and a valid end round-trip', () => {
    fc.assert(
      fc.property(validHello('h-'), (h) => {
        expect(parseAgentMessage(JSON.stringify(h))).toEqual({ ok: true, value: JSON.parse(JSON.stringify(h)) });
      }),
      params(300),
    );
    fc.assert(
      fc.property(fc.nat(), fc.string({ maxLength: 512 }), (lastSeq, reason) => {
        expect(parseAgentMessage(JSON.stringify({ type: 'end', lastSeq, reason }))).toEqual({
          ok: true,
          value: { type: 'end', lastSeq, reason },
        });
      }),
      params(300),
    );
    // A sequence number is a whole number from 0: anything else is refused, never taken as a gap.
    for (const lastSeq of [-1, 1.5, 1e300, '3', null])
      expect(parseAgentMessage(JSON.stringify({ type: 'end', lastSeq, reason: 'x' })).ok).toBe(false);
  });

  it('decodeBatchHead: any bytes (at any offset of a buffer) give a head or a reason; encode then decode gives the head back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(8), (bytes, offset) => {
        const buf = new Uint8Array(bytes.length + offset);
        buf.set(bytes, offset);
        const h = decodeBatchHead(buf.subarray(offset));
        expect(typeof h === 'string' ? h.length > 0 : Number.isSafeInteger(h.seq) && h.seq >= 1 && Number.isInteger(h.lines)).toBe(true);
      }),
      params(1000),
    );
    // Random heads with the right magic, to get past the first check.
    fc.assert(
      fc.property(fc.double(), fc.nat(), fc.uint8Array({ maxLength: 32 }), (seq, lines, body) => {
        const h = decodeBatchHead(Buffer.concat([encodeBatchHead(seq, lines), body]));
        if (typeof h !== 'string') expect(Number.isSafeInteger(h.seq) && h.seq >= 1).toBe(true);
        if (!Number.isSafeInteger(seq) || seq < 1) expect(typeof h).toBe('string');
      }),
      params(1000),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        fc.nat({ max: 0xffffffff }),
        fc.array(
          fc.string().map((s) => s.replace(/\n/g, ' ')),
          { maxLength: 5 },
        ),
        (seq, lines, body) => {
          const frame = Buffer.concat([encodeBatchHead(seq, lines), Buffer.from(body.map((l) => `${l}\n`).join(''))]);
          expect(decodeBatchHead(frame)).toEqual({ seq, lines });
          expect(frame.length).toBeGreaterThanOrEqual(BATCH_HEAD);
        },
      ),
      params(500),
    );
  });
});

/** One HTTP request with a raw path (no URL normalization: ../ goes as sent); fails on a hang. */
function http(
  port: number,
  method: string,
  path: string,
  body?: string,
  type = 'application/json',
): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: body === undefined ? {} : { 'content-type': type, 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            type: String(res.headers['content-type'] ?? ''),
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error(`${method} ${path}: no answer in 5 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Every file under `dir` but the capture folder, with a digest of its bytes and its mtime. */
function snapshot(dir: string, skip: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (p === skip) continue;
      if (e.isDirectory()) walk(p);
      else out[relative(dir, p)] = `${createHash('sha256').update(readFileSync(p)).digest('hex')} ${statSync(p).mtimeMs}`;
    }
  };
  walk(dir);
  return out;
}

describe('the live server', () => {
  const TOKEN = 'props-token-0123456789abcdef';
  let server: RunningServer;
  let root: string;
  let captures: string;
  let before: Record<string, string>;
  let replayHost: string;
  const capture = Buffer.from(`${FIXTURES.find((f) => f.name === 'epoll-poll-on-dying-file.trace')!.lines.join('\n')}\n`);

  beforeAll(async () => {
    root = join(work, 'server');
    const data = join(root, 'data');
    captures = join(data, 'captures');
    mkdirSync(captures, { recursive: true });
    // Sentinels next to the capture folder and above it, with names a capture could have.
    writeFileSync(join(root, 'outside.ljsonl'), 'outside\n');
    writeFileSync(join(data, 'secret.ljsonl'), 'secret\n');
    writeFileSync(join(data, 'token'), 'not-the-token\n');
    writeFileSync(join(captures, 'good.ljsonl'), capture);
    writeFileSync(join(captures, 'replayed.ljsonl'), capture);
    before = snapshot(root, captures);
    const started = await startServer({ host: '127.0.0.1', port: 0, token: TOKEN, version: 't', capturesDir: captures });
    if (!started.ok) throw new Error(started.error);
    server = started.value;
    const r = await http(server.port, 'POST', '/api/replay', JSON.stringify({ capture: 'replayed.ljsonl', speed: 'max' }));
    expect(r.status).toBe(200);
    replayHost = (JSON.parse(r.body) as { host: string }).host;
  });
  afterAll(async () => {
    await server?.close();
  });

  const rejected = async (): Promise<number> => {
    const r = await http(server.port, 'GET', '/api/server');
    expect(r.status).toBe(200);
    return sum((JSON.parse(r.body) as { rejected: Record<string, number> }).rejected);
  };

  /** One agent connection: sends `frames`, then a frame that must be refused; what it got back, and how it closed. */
  async function session(frames: (string | Buffer)[]): Promise<{ messages: { type: string; message?: string }[]; code: number }> {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws/agent`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const messages: { type: string; message?: string }[] = [];
    ws.on('message', (d, binary) => {
      expect(binary).toBe(false);
      messages.push(JSON.parse(String(d)) as { type: string });
    });
    const closed = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`no close within 5 s after ${frames.length} frames`));
      }, 5000);
      ws.on('close', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
    ws.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      ws.on('open', () => resolve());
      ws.on('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    for (const f of frames) if (ws.readyState === ws.OPEN) ws.send(f, { binary: Buffer.isBuffer(f) });
    if (ws.readyState === ws.OPEN) ws.send('{nope');
    return { messages, code: await closed };
  }

  let hosts = 0;
  const lineish = fc
    .oneof(
      fixture.chain(garbageLine).map((g) => g.bytes.toString('utf8')),
      fixture.chain((f) => fc.constantFrom(...f.lines.slice(1))),
      fc.string({ maxLength: 30 }),
    )
    .map((l) => l.replace(/\n/g, ' '));
  /**
   * What an agent sends after its hello. Batches and ends are mostly in sequence (`delta` 0: the
   * next batch, or the last one sent) so that the stream gets analyzed, sometimes off by one or
   * anything; raw frames are anything at all.
   */
  type Step =
    | { raw: string | Buffer }
    | { batch: number | 'any'; lines: string[]; newline: boolean; count: number }
    | { end: number; reason: string };
  const delta = fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(-1, 1, 2) });
  const step: fc.Arbitrary<Step> = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        batch: fc.oneof({ weight: 6, arbitrary: delta }, { weight: 1, arbitrary: fc.constant('any' as const) }),
        lines: fc.array(lineish, { maxLength: 6 }),
        newline: fc.oneof({ weight: 6, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
        count: fc.nat(),
      }),
    },
    { weight: 1, arbitrary: fc.record({ end: delta, reason: fc.string({ maxLength: 20 }) }) },
    {
      weight: 2,
      arbitrary: fc
        .oneof(
          fc.string({ maxLength: 100 }),
          fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
          validHello('again-').map((h) => JSON.stringify(h)),
          fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
          fc.tuple(fc.double(), fc.nat(), fc.uint8Array({ maxLength: 16 })).map(([q, n, b]) => Buffer.concat([encodeBatchHead(q, n), b])),
        )
        .map((raw) => ({ raw })),
    },
  );
  const conversation = fc
    .tuple(
      fc.oneof({ weight: 5, arbitrary: validHello('agent-') }, { weight: 1, arbitrary: fc.constant(undefined) }),
      fc.array(step, { maxLength: 8 }),
      fc.double(),
    )
    .map(([hello, steps, anySeq]) => {
      const frames: (string | Buffer)[] = [];
      // A host of its own per run (a host's new run would replace the last one's session: also fine, but slower to reason about).
      if (hello !== undefined) frames.push(JSON.stringify({ ...hello, host: `${hello.host.slice(0, 100)}-${++hosts}` }));
      let sent = 0;
      for (const st of steps) {
        if ('raw' in st) frames.push(st.raw);
        else if ('end' in st) frames.push(JSON.stringify({ type: 'end', lastSeq: sent + st.end, reason: st.reason }));
        else {
          const seq = st.batch === 'any' ? anySeq : sent + 1 + st.batch;
          if (st.batch === 0) sent++;
          frames.push(
            Buffer.concat([
              encodeBatchHead(seq, st.count),
              Buffer.from(st.lines.join('\n') + (st.newline && st.lines.length > 0 ? '\n' : '')),
            ]),
          );
        }
      }
      return frames;
    });

  it('random frames from an agent with the token: acks for batches (a skipped sequence number is a recorded loss), an error and a 1008 close for anything malformed, counted; the server keeps serving', async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(conversation, async (frames) => {
        const counted = await rejected();
        const { messages, code } = await session(frames);
        for (const m of messages) expect(['welcome', 'ack', 'error']).toContain(m.type);
        for (const m of messages) seen.set(m.type, (seen.get(m.type) ?? 0) + 1);
        const errors = messages.filter((m) => m.type === 'error');
        expect(errors).toHaveLength(1);
        expect(errors[0]!.message!.length).toBeGreaterThan(0);
        expect(code).toBe(1008);
        expect(await rejected()).toBeGreaterThan(counted);
        const h = await http(server.port, 'GET', '/api/hosts');
        expect(h.status).toBe(200);
        expect(Array.isArray(JSON.parse(h.body))).toBe(true);
      }),
      params(50),
    );
    // The conversations did reach the analysis (not only the first checks).
    expect(seen.get('welcome') ?? 0).toBeGreaterThan(10);
    expect(seen.get('ack') ?? 0).toBeGreaterThan(10);
    const hostsNow = JSON.parse((await http(server.port, 'GET', '/api/hosts')).body) as HostView[];
    expect(hostsNow.some((h) => h.host === replayHost)).toBe(true);
  });

  const ALLOWED = [200, 204, 400, 404, 409, 415];
  /** Path segments: anything (encoded), and ways out of the folder, raw and encoded. */
  const segment = fc.oneof(
    fc.string({ maxLength: 30 }).map(encodeURIComponent),
    fc.string({ unit: 'binary', maxLength: 10 }).map(encodeURIComponent),
    fc.constantFrom(
      '..',
      '.',
      '%2e%2e',
      '%2E%2E%2F',
      '..%2f',
      '..%5c',
      '%252e%252e',
      '....',
      '%00',
      '%zz',
      '%',
      'secret.ljsonl',
      'token',
      'outside.ljsonl',
      '..%2Fsecret.ljsonl',
      '..%2F..%2Foutside.ljsonl',
      '%2e%2e%2fsecret.ljsonl',
      '..%5Csecret.ljsonl',
      'good.ljsonl',
      'replayed.ljsonl',
      '.ljsonl',
      'a.ljsonl.gz',
      '%2Fetc%2Fpasswd',
      'good.ljsonl%00.txt',
      'con.ljsonl',
      '-.ljsonl',
      encodeURIComponent('../secret.ljsonl'),
    ),
  );
  const name = fc.tuple(fc.array(segment, { minLength: 1, maxLength: 3 }), fc.constantFrom('/', '')).map(([s, sep]) => s.join(sep));
  const query = fc
    .array(
      fc.tuple(
        fc.oneof(
          fc.constantFrom('host', 'rule', 'severity', 'pid', 'comm', 'kind', 'limit', 'addr', 'token', 'host[]', 'limit[x]'),
          fc.string({ maxLength: 8 }),
        ),
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.constantFrom(
            'error',
            'info',
            'file',
            '0',
            '-1',
            '1e3',
            '99999999999999999999',
            '0xffff888100001000',
            'NaN',
            'replay-replayed',
          ),
        ),
      ),
      { maxLength: 5 },
    )
    .map((kv) => kv.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&'));
  const replayBody = fc
    .oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.record(
        {
          action: fc.oneof(fc.constantFrom('play', 'pause', 'speed', 'seek', 'next-flag'), fc.jsonValue()),
          speed: fc.oneof(fc.constant('max'), fc.double(), fc.jsonValue()),
          to_s: fc.oneof(fc.double(), fc.constantFrom(0, -1, 1, 1e300, -1e300, 2 ** 53)),
        },
        { requiredKeys: [] },
      ),
    )
    .map((v) => JSON.stringify(v) ?? 'null');

  it('REST: any query, any capture name, any replay command: a JSON answer with a known status, never a 500 or a hang; nothing outside the capture folder touched', async () => {
    const command = fc
      .oneof(
        fc.constant({ action: 'seek', to_s: 0 }),
        fc.constantFrom('play', 'pause', 'next-flag').map((action) => ({ action })),
        fc.record({ action: fc.constant('speed'), speed: fc.constantFrom(0.1, 100, 'max') }),
      )
      .map((c) => ({
        method: 'POST',
        path: `/api/replay/${encodeURIComponent(replayHost)}`,
        body: JSON.stringify(c),
        type: 'application/json',
      }));
    const request = fc.oneof(
      // What the page does with the library and the replay: valid requests on the capture being replayed.
      command,
      fc
        .constantFrom('good.ljsonl', 'replayed.ljsonl')
        .chain((n) => fc.constantFrom({ method: 'DELETE', path: `/api/captures/${n}` }, { method: 'GET', path: `/api/captures/${n}` })),
      fc
        .tuple(fc.constantFrom('/api/flags', '/api/objects', '/api/stats', '/api/hosts'), query)
        .map(([p, q]) => ({ method: 'GET', path: `${p}?${q}` })),
      name.map((n) => ({ method: 'GET', path: `/api/flags/${n}` })),
      name.map((n) => ({ method: 'GET', path: `/api/captures/${n}` })),
      name.map((n) => ({ method: 'DELETE', path: `/api/captures/${n}` })),
      fc
        .tuple(
          fc.oneof(fc.constant(encodeURIComponent(replayHost)), name),
          replayBody,
          fc.oneof(fc.constant('application/json'), fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', '')),
        )
        .map(([h, body, type]) => ({ method: 'POST', path: `/api/replay/${h}`, body, type })),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(request, { minLength: 1, maxLength: 4 }), async (reqs) => {
        // Each run starts from the same library (a run may have deleted a capture).
        for (const n of ['good.ljsonl', 'replayed.ljsonl']) if (!existsSync(join(captures, n))) writeFileSync(join(captures, n), capture);
        for (const q of reqs) {
          const r = await http(server.port, q.method, q.path, 'body' in q ? q.body : undefined, 'type' in q ? q.type : undefined);
          const what = `${q.method} ${q.path} ${'body' in q ? q.body : ''} -> ${r.status} ${r.body.slice(0, 200)}`;
          expect(ALLOWED, what).toContain(r.status);
          if (r.status === 204) continue;
          if (r.type === 'application/octet-stream') {
            // A download: only ever a capture of the folder.
            expect(r.type, what).toBe('application/octet-stream');
            expect(Buffer.from(r.body).equals(capture), what).toBe(true);
            continue;
          }
          expect(r.type, what).toMatch(/^application\/json/);
          expect(() => JSON.parse(r.body), what).not.toThrow();
        }
        expect(snapshot(root, captures)).toEqual(before);
      }),
      {
        ...params(150),
        // Found by this property: the capture being replayed deleted, then the replay sought back (it reopens the file).
        examples: [
          [
            [
              { method: 'DELETE', path: '/api/captures/replayed.ljsonl' },
              {
                method: 'POST',
                path: `/api/replay/${encodeURIComponent(replayHost)}`,
                body: '{"action":"seek","to_s":0}',
                type: 'application/json',
              },
            ],
          ],
        ],
      },
    );
    // Still serving.
    expect((await http(server.port, 'GET', '/api/hosts')).status).toBe(200);
    expect(snapshot(root, captures)).toEqual(before);
  });
});
