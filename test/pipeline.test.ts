/**
 * The reading path end to end: chunk boundaries, gzip, truncation, missing header, reordering
 * across CPUs and the lost-event bookkeeping.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Analysis, analyzeFile } from '../server/analyze/pipeline.js';
import type { BatchSink } from '../server/decode/packed/batch.js';
import { PackingDecoder } from '../server/decode/packed/packing.js';
import { PackedFields } from '../server/decode/packed/unpack.js';
import { DEFAULT_REORDER } from '../server/decode/reorder.js';
import { ROUTE_LIST } from '../server/decode/routes.js';
import { type FieldShape, type Written, writeFields } from '../server/decode/spec.js';
import { buildReport } from '../server/report/build.js';
import { CaptureDecoder } from '../server/decode/decoder.js';
import type { RecordEvent } from '../server/model/events.js';
import { stackField, traceToCapture } from './support/trace.js';
import { analyzeChunked, analyzePacked, flagsOf, seeded, writeCapture } from './support/run.js';

const dir = join(import.meta.dirname, 'fixtures', 'rules');
const fixtures = readdirSync(dir)
  .filter((f) => f.endsWith('.trace'))
  .sort();
const captureOf = (name: string): Buffer => Buffer.from(traceToCapture(readFileSync(join(dir, name), 'utf8')));

describe('the same input in any chunking gives the same result', () => {
  for (const name of fixtures) {
    it(name, async () => {
      const content = captureOf(name);
      const whole = buildReport(await analyzeFile(writeCapture(content)));
      expect(analyzeChunked(content, () => 1)).toEqual(whole);
      expect(analyzeChunked(content, () => 7)).toEqual(whole);
      const rnd = seeded(name.length * 7919);
      expect(analyzeChunked(content, () => 1 + Math.floor(rnd() * 300))).toEqual(whole);
    });
  }

  it('multi-byte characters split across chunks (comm and names in UTF-8)', () => {
    const content = Buffer.from(
      traceToCapture(`
      1.000 0 100 sh d_alloc @dir @root "répertoire"
      1.100 0 100 sh rrm @dir @root
      1.200 1 300 ünïcødé d_alloc @late @dir "fichier-é"
    `),
    );
    const whole = analyzeChunked(content, () => content.length);
    for (const k of [1, 2, 3]) expect(analyzeChunked(content, () => k)).toEqual(whole);
    const f = flagsOf(whole, 'dentry.use-after-removal');
    expect(f).toHaveLength(1);
    expect(f[0]!.message).toContain('fichier-é');
    expect(f[0]!.evidence.at(-1)!.comm).toBe('ünïcødé');
  });
});

/**
 * Many addresses and comms, reused (cache slots collide, within records too, and are refilled by
 * records the fast path then rejects), broken records, odd names and comms.
 */
function adversarialCapture(): Buffer {
  const rnd = seeded(4242);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const hex = (): string =>
    'ffff8881' +
    Math.floor(rnd() * 0xffffffff)
      .toString(16)
      .padStart(8, '0');
  const addrs = Array.from({ length: 3000 }, hex);
  // Addresses travel between threads as numbers: every length, leading zeros, all bits set.
  const odd = [
    '0',
    '00',
    '7',
    '000000ab',
    'abcdef',
    '123456789',
    '0123456789abcdef',
    'ffffffffffffffff',
    '0000000100000000',
    '00000000ffffffff',
  ];
  const a = (): string => (rnd() < 0.05 ? pick(odd) : rnd() < 0.7 ? pick(addrs) : hex());
  const comms = Array.from({ length: 6000 }, (_, i) => `c${i}`);
  const rec = (t: number, tag: string, fields: string[], comm = pick(comms)): string =>
    `{"type": "printf", "data": "${[tag, 5_000_000_000_000 + t * 100_000, t % 3, 100 + (t % 7), 100 + (t % 7), ...fields, comm].join('\\t')}"}`;
  const out = [traceToCapture('').trim()];
  for (let t = 1; t < 40_000; t++) {
    const r = rnd();
    if (r < 0.3) out.push(rec(t, 'poll', [a(), a(), '1']));
    else if (r < 0.45) out.push(rec(t, 'alloc', [a()]));
    else if (r < 0.55) out.push(rec(t, 'fput', [a(), '0', '1', a()]));
    else if (r < 0.62)
      out.push(rec(t, 'fput', [a(), 'x', '1', a()])); // bad int after an address
    else if (r < 0.68)
      out.push(rec(t, 'ins', [a(), a(), 'zz', '4'])); // bad address after two
    else if (r < 0.7)
      out.push(rec(t, 'd_alloc', [a(), a(), `n${t}`, 'tail'])); // a name with a tab
    else if (r < 0.72) out.push(rec(t, 'dput', [a(), a(), '1'], 'ünï'));
    else if (r < 0.74) out.push(rec(t, 'dput', [a(), a(), '1'], 'a\\"b'));
    else if (r < 0.75) out.push(`${rec(t, 'pw', [a(), a(), '0', a(), '0'])}\r`);
    else if (r < 0.76) out.push('');
    else if (r < 0.77) out.push('{"type": "lost_events", "data": {"events": 2}}');
    else if (r < 0.78) out.push(rec(t, 'nosuch', [a()]));
    else if (r < 0.79 && t > 30_000)
      out.push(rec(t - 30_000, 'alloc', [a()])); // 3 s late: past any slack
    else out.push(rec(t, 'last', [a()]));
  }
  return Buffer.from(`${out.join('\n')}\n${rec(40_000, 'alloc', ['ffff88']).slice(0, 40)}`);
}

describe("the decode worker's packed batches give what the lines give", () => {
  for (const name of fixtures) {
    it(name, () => {
      const content = captureOf(name);
      expect(analyzePacked(content, 1 << 20)).toEqual(analyzeChunked(content, () => 1 << 20));
    });
  }

  it('an adversarial capture, in any chunking', () => {
    const content = adversarialCapture();
    const whole = analyzeChunked(content, () => 1 << 20);
    expect(whole.summary.events).toBeGreaterThan(20_000);
    expect(Object.keys(whole.summary.anomaly_counts).length).toBeGreaterThan(2);
    expect(whole.summary.anomaly_counts['late-event']).toBeGreaterThan(0);
    expect(whole.lost_events).toBeGreaterThan(0);
    expect(analyzePacked(content, 1 << 20)).toEqual(whole);
    expect(analyzePacked(content, 777)).toEqual(whole);
  });
});

describe('the readers derived from the record specs agree', () => {
  // Random records of every tag, written by the specs' writer: the text reader (Fields), the byte
  // reader (ByteFields) and the decode worker's packed path (HoldingFields -> batch -> PackedFields)
  // give the same events, and each event holds the values written.
  const rnd = seeded(77);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const hexDigits = (): string => Array.from({ length: 1 + Math.floor(rnd() * 16) }, () => pick([...'0123456789abcdef'])).join('');
  const addr = (): string => pick(['0', '1', 'ffff888100000000', 'ffffffffffffffff', hexDigits()]);
  const name = (tabs: boolean): string =>
    pick(['x', 'tmp.1', '', 'répertoire', 'a"b', 'back\\slash', 'sp ace', ...(tabs ? ['a\tb', 'x\ty\tz'] : [])]);
  const randomValue = (shape: FieldShape): Written[FieldShape] => {
    switch (shape) {
      case 'addr':
        return addr();
      case 'int':
        return pick([0, 1, -1, 2, 4096, 2 ** 40, Math.floor(rnd() * 1e9)]);
      case 'bool':
        return rnd() < 0.5;
      case 'str':
        return name(false);
      case 'rest':
        return name(true);
      case 'addrs4':
      case 'bits256':
        return [addr(), addr(), addr(), addr()];
    }
  };
  /** What the event holds for a written value. */
  const decoded = (shape: FieldShape, v: Written[FieldShape]): unknown => {
    if (shape === 'bool') return v === true;
    if (shape === 'addrs4') return (v as readonly string[]).filter((a) => a !== '0');
    if (shape === 'bits256') {
      const words = v as readonly string[];
      const bits: number[] = [];
      for (let b = 0; b < 256; b++) if ((BigInt(`0x${words[b >> 6]}`) >> BigInt(b & 63)) & 1n) bits.push(b);
      return bits;
    }
    return v;
  };

  it('on random records of every tag', () => {
    const header = traceToCapture('').split('\n')[0]!;
    const lines: string[] = [header];
    const expected: Record<string, unknown>[] = [];
    let t = 5_000_000_000_000;
    for (const { codec } of ROUTE_LIST) {
      const spec = codec.spec;
      for (let k = 0; k < 40; k++) {
        const values: Record<string, Written[FieldShape]> = {};
        const want: Record<string, unknown> = { kind: spec.kind };
        for (const [field, shape] of Object.entries(spec.fields) as [string, FieldShape][]) {
          values[field] = randomValue(shape);
          want[field] = decoded(shape, values[field]!);
        }
        want.fn = spec.fnFrom === undefined ? spec.fn : values[spec.fnFrom];
        const comm = pick(['sh', 'Web Content', 'kworker/0:1', 'répertoire']);
        const stack = rnd() < 0.2 ? `\\t${JSON.stringify(stackField('do_sys_open+5,x64_sys_call+12')).slice(1, -1)}` : '';
        const fields = writeFields(spec, values as never);
        const body = [
          spec.tag,
          String((t += 1000)),
          '1',
          '100',
          '101',
          ...(fields === '' ? [] : [fields]),
          JSON.stringify(comm).slice(1, -1),
        ];
        lines.push(`{"type": "printf", "data": "${body.join('\\t')}${stack}"}`);
        expected.push(want);
      }
    }
    const content = Buffer.from(`${lines.join('\n')}\n`);

    const viaText: RecordEvent[] = [];
    const text = new CaptureDecoder({ event: (ev) => viaText.push(ev), lost: () => {} });
    for (const [i, l] of lines.entries()) text.line(l, i + 1);
    const viaBytes: RecordEvent[] = [];
    const bytes = new CaptureDecoder({ event: (ev) => viaBytes.push(ev), lost: () => {} });
    lines.forEach((l, i) => {
      const b = Buffer.from(l);
      bytes.lineBytes(b, 0, b.length, i + 1);
    });
    const viaPacked: RecordEvent[] = [];
    const unpack = new PackedFields();
    const sink: BatchSink = { record: (ev) => viaPacked.push(ev), event: (ev) => viaPacked.push(ev), loss: () => {} };
    const packer = new PackingDecoder((b) => unpack.read(b, sink), DEFAULT_REORDER);
    packer.push(content);
    const summary = packer.end();

    expect(text.anomalies.counts.size, JSON.stringify(text.anomalies.examples[0])).toBe(0);
    expect(bytes.anomalies.counts.size).toBe(0);
    expect(summary.anomalyCounts.size).toBe(0);
    expect(viaText.map(({ t, cpu, pid, tid, comm, line, stack, ...payload }) => payload)).toEqual(expected);
    expect(viaBytes).toEqual(viaText);
    expect(viaPacked).toEqual(viaText);
  });
});

describe('the capture header as a value (a live agent hello carries it parsed)', () => {
  it('gives what the header line gives', () => {
    const content = captureOf('epoll-poll-on-dying-file.trace').toString('utf8');
    const nl = content.indexOf('\n');
    const a = new Analysis();
    a.pushHeader(JSON.parse(content.slice(0, nl)));
    a.push(content.slice(nl + 1));
    const report = buildReport(a.end());
    expect(report.summary.header).not.toBeNull();
    expect(report).toEqual(analyzeChunked(Buffer.from(content), () => 1 << 20));
  });

  it('a bad one is the bad-header anomaly a bad header line is', () => {
    const content = captureOf('epoll-poll-on-dying-file.trace').toString('utf8');
    const rest = content.slice(content.indexOf('\n') + 1);
    const bad = { format: 'lifetrace-capture', version: 99, families: {} };
    const a = new Analysis();
    a.pushHeader(bad);
    a.push(rest);
    expect(buildReport(a.end())).toEqual(analyzeChunked(Buffer.from(`${JSON.stringify(bad)}\n${rest}`), () => 1 << 20));
  });
});

describe('capture files', () => {
  const src = readFileSync(join(dir, 'epoll-poll-on-dying-file.trace'), 'utf8');

  it('reads gzip by its bytes, whatever the name', async () => {
    const plain = buildReport(await analyzeFile(writeCapture(traceToCapture(src))));
    const gz = buildReport(await analyzeFile(writeCapture(traceToCapture(src), 'x.ljsonl.gz', true)));
    const misnamed = buildReport(await analyzeFile(writeCapture(gzipSync(traceToCapture(src)), 'no-suffix')));
    expect(gz).toEqual(plain);
    expect(misnamed).toEqual(plain);
  });

  it('a capture cut mid-line: the truncated line is reported with its number, the rest analyzed', async () => {
    const full = traceToCapture(src);
    const cut = full.slice(0, full.length - 25);
    const lastLine = cut.split('\n').length;
    const r = buildReport(await analyzeFile(writeCapture(cut)));
    expect(r.summary.anomaly_counts['truncated-line']).toBe(1);
    expect(r.anomalies.find((a) => a.kind === 'truncated-line')!.line).toBe(lastLine);
    expect(flagsOf(r, 'epoll.poll-on-dying-file')).toHaveLength(1);
  });

  it('a truncated gzip: the good part is analyzed and the input error said', async () => {
    const gz = gzipSync(traceToCapture(src));
    const r = buildReport(await analyzeFile(writeCapture(gz.subarray(0, gz.length - 30), 'cut.gz')));
    expect(r.summary.input_error).toMatch(/reading stopped after line \d+/);
    expect(r.summary.events).toBeGreaterThan(3);
  });

  it('raw bpftrace output with no lifetrace header is read, and the missing header noted', async () => {
    const r = buildReport(await analyzeFile(writeCapture(traceToCapture(src, { header: false }))));
    expect(r.summary.header).toBeNull();
    expect(r.summary.anomaly_counts['no-header']).toBe(1);
    expect(flagsOf(r, 'epoll.poll-on-dying-file')).toHaveLength(1);
  });

  it('a header from a newer format version is refused as a header but the records are still read', async () => {
    const lines = traceToCapture(src).split('\n');
    lines[0] = lines[0]!.replace('"version":1', '"version":99');
    const r = buildReport(await analyzeFile(writeCapture(lines.join('\n'))));
    expect(r.anomalies[0]).toMatchObject({ kind: 'bad-header', line: 1 });
    expect(r.anomalies[0]!.message).toMatch(/version 99 is newer/);
    expect(flagsOf(r, 'epoll.poll-on-dying-file')).toHaveLength(1);
  });

  it("bpftrace's own lines: attached_probes, maps, diagnostics, blank lines", async () => {
    const extra = [
      '{"type": "attached_probes", "data": {"probes": 41}}',
      '',
      '{"type": "map", "data": {"@dput_calls": 123456}}',
      '{"type": "warnf", "msg": "map full"}',
      '{"type": "lost_events", "data": {"events": 5}}',
    ].join('\n');
    const r = buildReport(await analyzeFile(writeCapture(`${traceToCapture(src) + extra}\n`)));
    expect(r.summary.attached_probes).toBe(41);
    expect(r.summary.maps).toEqual({ '@dput_calls': 123456 });
    expect(r.summary.diagnostics).toEqual([{ level: 'warnf', message: 'map full', line: expect.any(Number) }]);
    expect(r.lost_events).toBe(5);
    expect(r.summary.anomaly_counts).toEqual({});
  });
});

describe('ordering', () => {
  it('records far later than the reorder window are kept and counted as late', async () => {
    const r = buildReport(
      await analyzeFile(
        writeCapture(
          traceToCapture(`
      1.000 0 100 app fdi 3 @a
      5.000 0 100 app fdi 4 @b
      6.000 0 100 app fdi 6 @d
      1.500 1 200 other fdi 5 @c
    `),
        ),
      ),
    );
    expect(r.summary.events).toBe(4);
    expect(r.summary.anomaly_counts['late-event']).toBe(1);
  });

  it('equal timestamps keep capture order', async () => {
    // Insert and remove at the same ns in the same task: insert (earlier line) must come first,
    // otherwise the remove would be of an unknown epitem and the lifetime would be lost.
    const r = buildReport(
      await analyzeFile(
        writeCapture(
          traceToCapture(`
      1.000 0 100 app ctl 3 1 5
      1.000 0 100 app ins @ep @epi @f 5
      1.000 0 100 app ctl_r 3 1 5 0
      1.000 0 100 app ctl 3 2 5
      1.000 0 100 app rm @ep @epi @f 5
    `),
        ),
      ),
    );
    expect(r.summary.objects.epitem).toMatchObject({ born: 1, freed: 1 });
    expect(r.summary.objects.epitem.lifetime.max_ns).toBe(0);
  });

  it('a loss report marks only the flags whose evidence window it overlaps', async () => {
    const r = buildReport(
      await analyzeFile(
        writeCapture(
          traceToCapture(`
      1.000 0 100 app alloc @f
      1.001 0 100 app fput @f 0 0 @d
      1.002 0 100 app fput_r @f
      1.003 0 100 app fdi 4 @f
      5.000 0 100 app alloc @g
      !lost 3
      5.001 0 100 app fput @g 0 0 @d
      5.002 0 100 app fput_r @g
      5.003 0 100 app fdi 4 @g
    `),
        ),
      ),
    );
    const uaf = flagsOf(r, 'lifetime.use-after-free');
    expect(uaf.map((f) => f.confidence)).toEqual(['certain', 'uncertain']);
    expect(r.lost_events).toBe(3);
    expect(r.loss_windows).toHaveLength(1);
  });
});

describe('gaps: the probes not running (lifetrace_gap, written by an agent that restarted bpftrace)', () => {
  const clean = captureOf('epoll-poll-on-dying-file.trace').toString();
  const lines = clean.split('\n');
  const times = lines
    .map((l) => /^\{"type": "printf", "data": "[^"\\]*\\t(\d+)\\t/.exec(l)?.[1])
    .filter((t): t is string => t !== undefined);
  const withLine = (extra: string): Buffer => Buffer.from([...lines.slice(0, -1), extra, ''].join('\n'));

  it('makes a flag whose evidence it overlaps uncertain, saying why, and is listed with the losses', () => {
    const gap = JSON.stringify({
      type: 'lifetrace_gap',
      data: { from: times[1], to: times[times.length - 2], reason: 'bpftrace exited (null); restarted by the agent' },
    });
    const r = analyzeChunked(withLine(gap), () => 1 << 16);
    const [flag] = flagsOf(r, 'epoll.poll-on-dying-file');
    expect(flag!.confidence).toBe('uncertain');
    expect(flag!.uncertainty.join(' ')).toMatch(/probes were not running during part of the evidence window \(bpftrace exited/);
    expect(r.loss_windows).toEqual([expect.objectContaining({ count: 0, reason: 'bpftrace exited (null); restarted by the agent' })]);
    expect(r.summary.anomaly_counts).toEqual({});
  });

  it('a gap elsewhere changes nothing; a malformed gap is a counted anomaly', () => {
    const before = String(BigInt(times[0]!) - 10_000_000_000n);
    const far = JSON.stringify({
      type: 'lifetrace_gap',
      data: { from: before, to: String(BigInt(times[0]!) - 5_000_000_000n), reason: 'earlier' },
    });
    expect(
      flagsOf(
        analyzeChunked(withLine(far), () => 1 << 16),
        'epoll.poll-on-dying-file',
      )[0]!.confidence,
    ).toBe('certain');
    const bad = analyzeChunked(withLine('{"type": "lifetrace_gap", "data": {"from": "x", "to": "1"}}'), () => 1 << 16);
    expect(bad.summary.anomaly_counts).toEqual({ 'bad-envelope': 1 });
    const backwards = analyzeChunked(
      withLine(JSON.stringify({ type: 'lifetrace_gap', data: { from: times[2], to: times[1] } })),
      () => 1 << 16,
    );
    expect(backwards.summary.anomaly_counts).toEqual({ 'bad-envelope': 1 });
  });
});

describe('a malformed time never becomes the time base', () => {
  it('a first record whose time is not a number is an anomaly, and the records after it keep their times', () => {
    const good = captureOf('epoll-poll-on-dying-file.trace').toString().split('\n');
    // Ten characters: long enough to be split into seconds and nanoseconds.
    const bad = '{"type": "printf", "data": "fdc\\tnot-a-time\\t0\\t100\\t100\\t5\\tapp"}';
    const r = analyzeChunked(Buffer.from([good[0], bad, ...good.slice(1)].join('\n')), () => 1 << 16);
    expect(r.summary.anomaly_counts).toEqual({ 'bad-record': 1 });
    const clean = analyzeChunked(Buffer.from(good.join('\n')), () => 1 << 16);
    expect(r.flags.map((f) => f.evidence.map((e) => e.time))).toEqual(clean.flags.map((f) => f.evidence.map((e) => e.time)));
  });
});

/**
 * A fixture with a kernel stack on every record, as the script generator's records carry them:
 * each record's stack names its tag (so a wrong stack on a step shows), every seventh the kernel
 * could not give, every fifth taken at a return.
 */
function withStackFields(src: string): string {
  let k = 0;
  return src
    .split('\n')
    .map((line) => {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 5 || line.trim().startsWith('#') || line.trim().startsWith('!')) return line;
      k++;
      const frames = `${cols[4]}_probe+${k % 3},caller_of_${cols[4]}+17,do_syscall_64+56,entry_SYSCALL_64_after_hwframe+100`;
      return `${line} ^${k % 7 === 0 ? '' : k % 5 === 0 ? `return:${frames}` : frames}`;
    })
    .join('\n');
}

describe('kernel stacks on records (the trailing kstack field)', () => {
  const stacked = (name: string): Buffer => Buffer.from(traceToCapture(withStackFields(readFileSync(join(dir, name), 'utf8'))));

  it("every path reads the same stacks: lines in any chunking, gzip, the decode worker's batches", async () => {
    for (const name of fixtures) {
      const content = stacked(name);
      const whole = buildReport(await analyzeFile(writeCapture(content)));
      expect(buildReport(await analyzeFile(writeCapture(content, `s-${name}.gz`, true)))).toEqual(whole);
      expect(analyzeChunked(content, () => 7)).toEqual(whole);
      expect(analyzePacked(content, 1 << 20)).toEqual(whole);
      expect(analyzePacked(content, 333)).toEqual(whole);
      // The stack changes nothing else: the same flags and events as without it.
      const plain = buildReport(await analyzeFile(writeCapture(captureOf(name))));
      expect(whole.summary.events, name).toBe(plain.summary.events);
      expect(whole.summary.anomaly_counts, name).toEqual(plain.summary.anomaly_counts);
      expect(
        whole.flags.map((f) => ({ ...f, evidence: f.evidence.map(({ stack: _s, stack_at: _a, ...e }) => e) })),
        name,
      ).toEqual(plain.flags);
    }
  });

  it("an evidence step carries its own record's frames, innermost first, and says a return stack is one", async () => {
    const r = buildReport(await analyzeFile(writeCapture(stacked('epoll-poll-on-dying-file.trace'))));
    const [f] = flagsOf(r, 'epoll.poll-on-dying-file');
    expect(f!.evidence.length).toBeGreaterThan(1);
    for (const e of f!.evidence) {
      expect(e.stack).toBeDefined();
      if (e.stack!.length > 0) expect(e.stack![2]).toBe('do_syscall_64+56');
    }
    const tags = f!.evidence.filter((e) => e.stack!.length > 0).map((e) => e.stack![0]!.replace(/_probe\+\d$/, ''));
    expect(tags).toContain('poll');
    expect(f!.evidence.some((e) => e.stack_at === 'return') || f!.evidence.every((e) => e.stack_at === undefined)).toBe(true);
  });

  it('the text and byte paths agree record by record; equal stacks are one shared object', () => {
    const ptr = 'ffff888100001000';
    const stack = stackField('ep_item_poll.isra.0+1,ep_send_events+250,do_epoll_wait+1200');
    const line = (t: number, comm: string, s: string): string =>
      `{"type": "printf", "data": ${JSON.stringify(['poll', String(5_000_000_000 + t), '0', '7', '7', ptr, ptr, '0', comm, s].join('\t'))}}`;
    const lines = [
      traceToCapture('').trim(),
      line(1, 'a', stack),
      line(2, 'b', stack),
      line(3, 'c', stackField('return:x+1')),
      line(4, 'd', stackField('')),
      line(5, 'weird', '\nnot a stack'),
      line(6, 'e\tf', stack),
    ];
    const viaText: RecordEvent[] = [];
    const viaBytes: RecordEvent[] = [];
    const text = new CaptureDecoder({ event: (e) => viaText.push(e), lost: () => {} });
    const bytes = new CaptureDecoder({ event: (e) => viaBytes.push(e), lost: () => {} });
    lines.forEach((l, i) => {
      text.line(l, i + 1);
      const b = Buffer.from(l);
      bytes.lineBytes(b, 0, b.length, i + 1);
    });
    expect(viaBytes).toEqual(viaText);
    expect(viaText.map((e) => e.comm)).toEqual(['a', 'b', 'c', 'd', 'weird']);
    expect(viaText[0]!.stack).toEqual({ frames: ['ep_item_poll.isra.0+1', 'ep_send_events+250', 'do_epoll_wait+1200'], atReturn: false });
    expect(viaText[1]!.stack).toBe(viaText[0]!.stack);
    expect(viaBytes[1]!.stack).toBe(viaBytes[0]!.stack);
    expect(viaText[2]!.stack).toEqual({ frames: ['x+1'], atReturn: true });
    expect(viaText[3]!.stack).toEqual({ frames: [], atReturn: false });
    // A stack field that is not a kstack: counted, and the record kept without it.
    expect(viaText[4]!.stack).toBeUndefined();
    for (const d of [text, bytes]) {
      expect(Object.fromEntries(d.anomalies.counts)).toEqual({ 'bad-stack': 1, 'bad-record': 1 });
    }
  });

  it('the worker path counts a bad stack as the line path does, and keeps the record', () => {
    const bad = JSON.stringify(['alloc', '1001200000000', '0', '7', '7', 'ffff888100009000', 'c', '\n\n  bad frame\n'].join('\t'));
    const content = Buffer.from(
      traceToCapture(`
      1.0 0 7 a alloc @f ^alloc_empty_file+1,path_openat+40
      1.1 0 7 b alloc @g ^alloc_empty_file+1,path_openat+40
      !raw {"type": "printf", "data": ${bad}}
      1.3 0 7 d alloc @h ^return:alloc_empty_file+1
    `),
    );
    const lines = analyzeChunked(content, () => 1 << 20);
    expect(lines.summary.anomaly_counts).toEqual({ 'bad-stack': 1 });
    expect(lines.summary.events).toBe(4);
    expect(analyzePacked(content, 1 << 20)).toEqual(lines);
    expect(analyzePacked(content, 5)).toEqual(lines);
  });
});
