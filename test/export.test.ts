/**
 * `lifetrace export --format perfetto`: the structure of the trace (async begin/end pairs, phases
 * tiling their lifetime, task slices that never partly overlap, flows with both ends bound to a
 * slice), the flags against `lifetrace analyze --json`, input and usage errors, and backpressure.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { analyzeFile } from '../server/analyze/pipeline.js';
import { exportPerfetto } from '../server/export/perfetto.js';
import type { TraceEvent } from '../server/export/trace-json.js';
import { buildReport, type AnalysisReport } from '../server/report/build.js';
import { generateCapture } from './bench/generate.js';
import { writeCapture } from './support/run.js';
import { traceToCapture } from './support/trace.js';

const root = join(import.meta.dirname, '..');
const bin = join(root, 'server', 'bin', 'lifetrace.js');
const rulesDir = join(root, 'test', 'fixtures', 'rules');
const sample = join(root, 'test', 'fixtures', 'sample.ljsonl.gz');
const fixture = (name: string): string => writeCapture(traceToCapture(readFileSync(join(rulesDir, name), 'utf8')));

/** The real command as a user runs it. */
const lifetrace = (...args: string[]) => execa('node', [bin, ...args], { reject: false, cwd: root });

interface Trace {
  traceEvents: TraceEvent[];
  displayTimeUnit: string;
  metadata: Record<string, unknown> & { input_error: string | null; lifetimes: number };
}

/** Exports in-process into memory (the CLI is tested separately). */
async function exportToString(path: string): Promise<Trace> {
  let text = '';
  const out = new Writable({
    write(c: Buffer, _e, done) {
      text += c.toString();
      done();
    },
  });
  await exportPerfetto(path, out, { endStream: true });
  return JSON.parse(text) as Trace;
}

/** ts with the file order as the tie-break: what a viewer that sorts stably sees. */
function byTime(events: TraceEvent[]): TraceEvent[] {
  return events
    .map((e, i) => [e, i] as const)
    .sort((x, y) => x[0].ts! - y[0].ts! || x[1] - y[1])
    .map(([e]) => e);
}

/** Every structural rule the trace must keep; returns what is broken (empty when sound). */
function structureProblems(trace: Trace): string[] {
  const bad: string[] = [];
  const evs = trace.traceEvents;
  const index = new Map(evs.map((e, i) => [e, i]));
  const timed = evs.filter((e) => e.ph !== 'M');
  for (const e of timed) if (typeof e.ts !== 'number' || !Number.isFinite(e.ts)) bad.push(`no ts: ${JSON.stringify(e)}`);

  // Async slices: per track (process, category, id), strictly nested begin/end pairs, outer slice
  // = the object generation, at most one phase open inside it, phases tiling it with no gap.
  const stacks = new Map<string, { e: TraceEvent; lastChildEnd: number | undefined }[]>();
  for (const e of byTime(timed.filter((x) => x.ph === 'b' || x.ph === 'e'))) {
    const key = `${e.pid}|${e.cat}|${e.id2?.local}`;
    if (e.id2?.local === undefined || e.cat === undefined) bad.push(`async event without cat or id2: ${JSON.stringify(e)}`);
    const stack = stacks.get(key) ?? [];
    stacks.set(key, stack);
    if (e.ph === 'b') {
      const parent = stack[stack.length - 1];
      if (stack.length >= 2) bad.push(`${key}: phase ${e.name} opens inside phase ${parent!.e.name}`);
      if (stack.length === 0 && !/^\w+ 0x[0-9a-f]+#\d+$/.test(e.name)) bad.push(`${key}: outer slice named ${e.name}`);
      if (parent !== undefined && e.ts !== (parent.lastChildEnd ?? parent.e.ts))
        bad.push(`${key}: phase ${e.name} at ${e.ts} leaves a gap after ${parent.lastChildEnd ?? parent.e.ts}`);
      stack.push({ e, lastChildEnd: undefined });
      continue;
    }
    const open = stack.pop();
    if (open === undefined) {
      bad.push(`${key}: end of ${e.name} without a begin`);
      continue;
    }
    if (open.e.name !== e.name) bad.push(`${key}: end of ${e.name} closes ${open.e.name}`);
    if (e.ts! < open.e.ts!) bad.push(`${key}: ${e.name} ends before it begins`);
    const parent = stack[stack.length - 1];
    if (parent !== undefined) parent.lastChildEnd = e.ts!;
    else if (open.lastChildEnd !== undefined && open.lastChildEnd !== e.ts)
      bad.push(`${key}: last phase of ${e.name} ends at ${open.lastChildEnd}, not at its end ${e.ts}`);
  }
  for (const [key, stack] of stacks) if (stack.length > 0) bad.push(`${key}: ${stack.map((s) => s.e.name).join(', ')} never ends`);

  // Complete slices on one thread track: nested or disjoint, never partly overlapping.
  const xs = new Map<string, TraceEvent[]>();
  for (const e of timed.filter((x) => x.ph === 'X')) {
    const key = `${e.pid}/${e.tid}`;
    (xs.get(key) ?? xs.set(key, []).get(key)!).push(e);
  }
  for (const [key, list] of xs) {
    list.sort((a, b) => a.ts! - b.ts! || b.dur! - a.dur!);
    const open: number[] = [];
    for (const e of list) {
      const end = e.ts! + e.dur!;
      while (open.length > 0 && open[open.length - 1]! <= e.ts!) open.pop();
      if (open.length > 0 && end > open[open.length - 1]!) bad.push(`${key}: ${e.name} at ${e.ts} overlaps a slice it is not inside`);
      open.push(end);
    }
  }

  // Flows: one start, one finish, steps between, in time order, each bound to a slice of its thread.
  const flows = new Map<number, TraceEvent[]>();
  for (const e of timed.filter((x) => x.ph === 's' || x.ph === 't' || x.ph === 'f'))
    (flows.get(e.id!) ?? flows.set(e.id!, []).get(e.id!)!).push(e);
  for (const [id, list] of flows) {
    const phs = list.map((e) => e.ph).join('');
    if (!/^st*f$/.test(phs)) bad.push(`flow ${id}: phases ${phs}`);
    for (let i = 1; i < list.length; i++) if (list[i]!.ts! < list[i - 1]!.ts!) bad.push(`flow ${id}: goes back in time`);
    for (const e of list) {
      // A viewer binds a flow event to a slice already begun: the slice must come first in the file.
      const host = xs.get(`${e.pid}/${e.tid}`)?.some((x) => x.ts! <= e.ts! && e.ts! < x.ts! + x.dur! && index.get(x)! < index.get(e)!);
      if (!host) bad.push(`flow ${id}: ${e.ph} at ${e.ts} on ${e.pid}/${e.tid} has no slice to bind to`);
    }
  }
  return bad;
}

const flagInstants = (t: Trace) => t.traceEvents.filter((e) => e.ph === 'i' && e.cat === 'flag');
const ruleCounts = (flags: { rule: string; count: number }[]): string[] => flags.map((f) => `${f.rule} x${f.count}`).sort();
const instantCounts = (t: Trace): string[] => ruleCounts(flagInstants(t).map((e) => e.args as { rule: string; count: number }));
type Guarded = { rule: string; guard: { fix: string; state: string; how: string } | null };
const guardsOf = (flags: Guarded[]): string[] =>
  flags.map((f) => (f.guard ? `${f.rule} guarded by ${f.guard.fix}: ${f.guard.state} (${f.guard.how})` : `${f.rule}: no fix`)).sort();

describe('export --format perfetto', () => {
  it.each(readdirSync(rulesDir).filter((n) => n.endsWith('.trace')))('%s: sound structure, the flags of analyze', async (name) => {
    const path = fixture(name);
    const trace = await exportToString(path);
    expect(structureProblems(trace)).toEqual([]);
    const report = buildReport(await analyzeFile(path));
    expect(instantCounts(trace)).toEqual(ruleCounts(report.flags));
    // Each flag says whether this kernel carries its rule's fix, and how that was decided.
    expect(guardsOf(flagInstants(trace).map((e) => e.args as Guarded))).toEqual(guardsOf(report.flags));
  });

  it('the structure check itself catches a missing end, a crossed phase, a one-ended flow and a partial overlap', async () => {
    const good = await exportToString(fixture('epoll-poll-on-dying-file.trace'));
    const broken = (change: (evs: TraceEvent[]) => void): string[] => {
      const t = structuredClone(good);
      change(t.traceEvents);
      return structureProblems(t);
    };
    const firstIndex = (evs: TraceEvent[], p: (e: TraceEvent) => boolean): number => evs.findIndex(p);
    expect(
      broken(
        (evs) =>
          void evs.splice(
            firstIndex(evs, (e) => e.ph === 'e'),
            1,
          ),
      ).join(),
    ).toMatch(/never ends|closes/);
    expect(broken((evs) => void (evs[firstIndex(evs, (e) => e.ph === 'e' && !/#/.test(e.name))]!.ts! += 1)).join()).toMatch(
      /gap|opens inside|closes/,
    );
    expect(
      broken(
        (evs) =>
          void evs.splice(
            firstIndex(evs, (e) => e.ph === 'f'),
            1,
          ),
      ).join(),
    ).toMatch(/flow \d+: phases st+$/);
    expect(
      broken((evs) => {
        const x = evs.find((e) => e.ph === 'X')!;
        evs.push({ ...x, ts: x.ts! + 0.0005, dur: 0.001 });
      }).join(),
    ).toMatch(/overlaps/);
  });

  it('a file that dies under epoll: its phases in order, the flag on the file track, its evidence as one flow', async () => {
    const trace = await exportToString(fixture('epoll-poll-on-dying-file.trace'));
    const file = trace.traceEvents.filter((e) => e.cat === 'file' && e.ph === 'b');
    expect(file.map((e) => e.name)).toEqual([expect.stringMatching(/^file 0x[0-9a-f]+#0$/), 'live', 'last-ref', 'releasing']);
    expect(file[0]!.args).toMatchObject({ kind: 'file', gen: 0, born_unseen: true, freed_line: expect.any(Number) });
    expect(file[2]!.args).toMatchObject({ pid: 300, comm: 'closer' });

    const [flag] = flagInstants(trace);
    expect(flag).toMatchObject({ name: 'epoll.poll-on-dying-file', s: 'p', pid: file[0]!.pid });
    expect(flag!.args).toMatchObject({ severity: 'error', confidence: 'certain', count: 1, thread: expect.stringMatching(/^001: /) });
    const flow = trace.traceEvents.filter((e) => e.id === (flag!.args as { flow: number }).flow && e.cat === 'evidence');
    expect(flow.map((e) => e.ph).join('')).toMatch(/^st+f$/);
    expect(new Set(flow.map((e) => e.tid))).toEqual(new Set([100, 300]));
    const names = trace.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => (e.args as { name: string }).name);
    expect(names).toEqual(expect.arrayContaining(['app 100', 'closer 300']));
  });

  it("evidence slices carry each step's kernel stack, as analyze --json and the text report show it", async () => {
    const path = writeCapture(
      traceToCapture(`
      2.000 1 300 closer last @f ^fput+1,filp_close+60,__x64_sys_close+30
      2.001 1 300 closer fput @f 0 1 @d ^__fput+1,task_work_run+89
      1.000 0 100 app ctl 3 1 5 ^return:__x64_sys_epoll_ctl+108
      1.001 0 100 app ins @ep @epi @f 5 ^ep_ptable_queue_proc+1,pipe_poll+167,do_epoll_ctl+2858
      2.002 0 100 app poll @epi @f 0 ^ep_item_poll.isra.0+72,ep_send_events+250
      2.006 1 300 closer fput_r @f ^return:task_work_run+89
    `),
    );
    const trace = await exportToString(path);
    const steps = trace.traceEvents
      .filter((e) => e.ph === 'X' && e.cat === 'evidence')
      .flatMap((e) => (e.args as { events: { fn: string; stack?: string[]; stack_at?: string }[] }).events);
    const poll = steps.find((e) => e.fn === 'ep_item_poll')!;
    expect(poll.stack).toEqual(['ep_item_poll.isra.0+72', 'ep_send_events+250']);
    expect(steps.find((e) => e.fn === '__fput')!.stack).toEqual(['__fput+1', 'task_work_run+89']);
    expect(steps.every((e) => Array.isArray(e.stack))).toBe(true);

    const json = JSON.parse((await lifetrace('analyze', path, '--json')).stdout) as AnalysisReport;
    const f = json.flags.find((x) => x.rule === 'epoll.poll-on-dying-file')!;
    expect(f.evidence.find((e) => e.fn === 'ep_item_poll')!.stack).toEqual(poll.stack);
    const text = (await lifetrace('analyze', path)).stdout;
    expect(text).toContain('ep_item_poll: ');
    expect(text).toMatch(/ep_item_poll: [^\n]*\n {10}kernel stack:\n {12}ep_item_poll\.isra\.0\+72\n {12}ep_send_events\+250\n/);
    // __fput's return (a kretprobe's record): its stack is said to be the one at the return.
    const ret = json.flags.find((x) => x.rule === 'epoll.reaped-by-final-fput')!.evidence.find((e) => e.event === 'file.freed')!;
    expect(ret.stack).toEqual(['task_work_run+89']);
    expect(ret.stack_at).toBe('return');
    expect(text).toContain('kernel stack at the return:\n            task_work_run+89');
  });

  it('a reused address: its generations follow one another on one track', async () => {
    const trace = await exportToString(fixture('lifetime-address-reuse.trace'));
    const outer = trace.traceEvents.filter((e) => e.ph === 'b' && /#\d+$/.test(e.name));
    const byTrack = new Map<string, string[]>();
    for (const e of outer)
      (byTrack.get(`${e.pid}|${e.id2!.local}`) ?? byTrack.set(`${e.pid}|${e.id2!.local}`, []).get(`${e.pid}|${e.id2!.local}`)!).push(
        e.name,
      );
    expect([...byTrack.values()].some((names) => names.length >= 2 && names.every((n, i) => n.endsWith(`#${i}`)))).toBe(true);
  });

  it('the sample, through the real command: sound structure, the flags of analyze --json, objects open at the end', async () => {
    const [exported, analyzed] = await Promise.all([
      lifetrace('export', '--format', 'perfetto', sample),
      lifetrace('analyze', '--json', sample),
    ]);
    expect(exported.exitCode).toBe(0);
    expect(exported.stderr).toBe('');
    const trace = JSON.parse(exported.stdout) as Trace;
    expect(trace.displayTimeUnit).toBe('ns');
    expect(trace.metadata).toMatchObject({
      source: 'lifetrace',
      kernel: expect.stringMatching(/^6\.1\./),
      input_error: null,
      time_base_ns: expect.stringMatching(/^\d+$/),
    });
    expect(structureProblems(trace)).toEqual([]);
    const report = JSON.parse(analyzed.stdout) as AnalysisReport;
    expect(instantCounts(trace)).toEqual(ruleCounts(report.flags));

    const outer = trace.traceEvents.filter((e) => e.ph === 'b' && /#\d+$/.test(e.name));
    expect(outer.length).toBe(trace.metadata.lifetimes);
    const liveAtEnd = Object.values(report.summary.objects).reduce((n, k) => n + k.live_at_end, 0);
    expect(outer.filter((e) => (e.args as { open_at_end?: boolean }).open_at_end).length).toBe(liveAtEnd);
    const kinds = trace.traceEvents
      .filter((e) => e.name === 'process_name' && e.pid >= 1 << 23)
      .map((e) => (e.args as { name: string }).name);
    expect(kinds).toEqual([
      'file objects',
      'dentry objects',
      'epitem objects',
      'epoll objects',
      'mark objects',
      'eventfs objects',
      'capture',
    ]);
  });

  it('-o FILE: the trace goes to the file, a summary to standard error', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'lt-export-')), 'trace.json');
    const r = await lifetrace('export', fixture('epoll-stale-fd.trace'), '-o', out);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/wrote .*trace\.json: \d+ lifetimes, 1 flags/);
    expect(structureProblems(JSON.parse(readFileSync(out, 'utf8')) as Trace)).toEqual([]);
  });

  it('a truncated capture: what came before is exported, the input error said (exit 0, as analyze)', async () => {
    const gz = gzipSync(traceToCapture(readFileSync(join(rulesDir, 'epoll-poll-on-dying-file.trace'), 'utf8')));
    const cut = writeCapture(gz.subarray(0, gz.length - 30), 'cut.ljsonl.gz');
    const r = await lifetrace('export', cut);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toMatch(/input error .*reading stopped after line \d+/);
    const trace = JSON.parse(r.stdout) as Trace;
    expect(trace.metadata.input_error).toMatch(/reading stopped after line \d+/);
    expect(structureProblems(trace)).toEqual([]);
    expect(trace.traceEvents.filter((e) => e.ph === 'b').length).toBeGreaterThan(0);
  });

  it('usage errors exit 2: a bad --format, no capture, a missing capture, an unwritable -o', async () => {
    const c = fixture('epoll-stale-fd.trace');
    const badFormat = await lifetrace('export', '--format', 'json', c);
    expect(badFormat.exitCode).toBe(2);
    expect(badFormat.stderr).toMatch(/--format takes one of perfetto, got "json"/);
    expect((await lifetrace('export')).exitCode).toBe(2);
    const missing = await lifetrace('export', '/nonexistent/capture.ljsonl');
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/cannot read capture/);
    const unwritable = await lifetrace('export', c, '-o', '/nonexistent/dir/trace.json');
    expect(unwritable.exitCode).toBe(2);
    expect(unwritable.stderr).toMatch(/cannot write/);
    expect((await lifetrace('export', '--help')).stdout).toMatch(/--format perfetto/);
  });

  describe('a generated capture of 200k events', () => {
    let path = '';
    beforeAll(async () => {
      path = join(mkdtempSync(join(tmpdir(), 'lt-export-gen-')), 'gen.ljsonl');
      await generateCapture(path, 200_000, 3);
    });

    it('sound structure at scale (equal times, reused addresses, live objects at the end)', async () => {
      const trace = await exportToString(path);
      expect(structureProblems(trace)).toEqual([]);
      expect(trace.metadata.lifetimes).toBeGreaterThan(10_000);
    });

    it('waits for a slow output: what is buffered stays bounded while the trace is much larger', async () => {
      let written = 0;
      let maxBuffered = 0;
      const out: Writable = new Writable({
        highWaterMark: 1 << 16,
        write(c: Buffer, _e, done) {
          written += c.length;
          maxBuffered = Math.max(maxBuffered, out.writableLength);
          setImmediate(done);
        },
      });
      await exportPerfetto(path, out, { endStream: true });
      // Without the waits the whole trace would pile up. The most that does is what the end of the
      // input releases at once (the reorder window's events): bounded, whatever the capture's size.
      expect(written).toBeGreaterThan(20 << 20);
      expect(maxBuffered).toBeLessThan(written / 8);
    });
  });
});
