/**
 * The reading path end to end: chunk boundaries, gzip, truncation, missing header, reordering
 * across CPUs and the lost-event bookkeeping.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { analyzeFile } from '../server/analyze/pipeline.js';
import { buildReport } from '../server/report/build.js';
import { traceToCapture } from './support/trace.js';
import { analyzeChunked, flagsOf, seeded, writeCapture } from './support/run.js';

const dir = join(import.meta.dirname, 'fixtures', 'rules');
const fixtures = readdirSync(dir).filter((f) => f.endsWith('.trace')).sort();
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
    const content = Buffer.from(traceToCapture(`
      1.000 0 100 sh d_alloc @dir @root "répertoire"
      1.100 0 100 sh rrm @dir @root
      1.200 1 300 ünïcødé d_alloc @late @dir "fichier-é"
    `));
    const whole = analyzeChunked(content, () => content.length);
    for (const k of [1, 2, 3]) expect(analyzeChunked(content, () => k)).toEqual(whole);
    const f = flagsOf(whole, 'dentry.use-after-removal');
    expect(f).toHaveLength(1);
    expect(f[0]!.message).toContain('fichier-é');
    expect(f[0]!.evidence.at(-1)!.comm).toBe('ünïcødé');
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

  it('bpftrace\'s own lines: attached_probes, maps, diagnostics, blank lines', async () => {
    const extra = [
      '{"type": "attached_probes", "data": {"probes": 41}}',
      '',
      '{"type": "map", "data": {"@dput_calls": 123456}}',
      '{"type": "warnf", "msg": "map full"}',
      '{"type": "lost_events", "data": {"events": 5}}',
    ].join('\n');
    const r = buildReport(await analyzeFile(writeCapture(traceToCapture(src) + extra + '\n')));
    expect(r.summary.attached_probes).toBe(41);
    expect(r.summary.maps).toEqual({ '@dput_calls': 123456 });
    expect(r.summary.diagnostics).toEqual([{ level: 'warnf', message: 'map full', line: expect.any(Number) }]);
    expect(r.lost_events).toBe(5);
    expect(r.summary.anomaly_counts).toEqual({});
  });
});

describe('ordering', () => {
  it('records far later than the reorder window are kept and counted as late', async () => {
    const r = buildReport(await analyzeFile(writeCapture(traceToCapture(`
      1.000 0 100 app fdi 3 @a
      5.000 0 100 app fdi 4 @b
      6.000 0 100 app fdi 6 @d
      1.500 1 200 other fdi 5 @c
    `))));
    expect(r.summary.events).toBe(4);
    expect(r.summary.anomaly_counts['late-event']).toBe(1);
  });

  it('equal timestamps keep capture order', async () => {
    // Insert and remove at the same ns in the same task: insert (earlier line) must come first,
    // otherwise the remove would be of an unknown epitem and the lifetime would be lost.
    const r = buildReport(await analyzeFile(writeCapture(traceToCapture(`
      1.000 0 100 app ctl 3 1 5
      1.000 0 100 app ins @ep @epi @f 5
      1.000 0 100 app ctl_r 3 1 5 0
      1.000 0 100 app ctl 3 2 5
      1.000 0 100 app rm @ep @epi @f 5
    `))));
    expect(r.summary.objects.epitem).toMatchObject({ born: 1, freed: 1 });
    expect(r.summary.objects.epitem.lifetime.max_ns).toBe(0);
  });

  it('a loss report marks only the flags whose evidence window it overlaps', async () => {
    const r = buildReport(await analyzeFile(writeCapture(traceToCapture(`
      1.000 0 100 app alloc @f
      1.001 0 100 app fput @f 0 0 @d
      1.002 0 100 app fput_r @f
      1.003 0 100 app fdi 4 @f
      5.000 0 100 app alloc @g
      !lost 3
      5.001 0 100 app fput @g 0 0 @d
      5.002 0 100 app fput_r @g
      5.003 0 100 app fdi 4 @g
    `))));
    const uaf = flagsOf(r, 'lifetime.use-after-free');
    expect(uaf.map((f) => f.confidence)).toEqual(['certain', 'uncertain']);
    expect(r.lost_events).toBe(3);
    expect(r.loss_windows).toHaveLength(1);
  });
});
