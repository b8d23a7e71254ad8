/**
 * The stock-kernel rows of the truth table that fit in CI (the whole table is `npm run bench:truth`):
 * software nobody here wrote, run under `capture --vm` on a stock Debian kernel, judged against
 * test/kernel/truth-expectations.json. LTP's fanotify, inotify and epoll tests (built from source
 * at test time, test/support/ltp.ts) on 6.1; real programs (nginx under wrk, http.server under ab,
 * a make -j2 watched by inotifywait) on 6.12. A warning or error the evidence does not justify fails.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { analyzeFile } from '../server/analyze/pipeline.js';
import { buildReport, type AnalysisReport } from '../server/report/build.js';
import { ensureLtp, ltpTests, type LtpGroup } from './support/ltp.js';
import {
  flagsOf,
  judge,
  loadExpectations,
  ltpSuite,
  PROGRAMS_SUITE,
  unclaimed,
  type TruthKernel,
  type TruthSuite,
} from './support/truth.js';

const root = join(import.meta.dirname, '..');
const bin = join(root, 'server', 'bin', 'lifetrace.js');

async function captureSuite(k: TruthKernel, s: TruthSuite): Promise<{ report: AnalysisReport; log: string }> {
  const out = join(mkdtempSync(join(tmpdir(), `lifetrace-truth-${s.id}-`)), 'capture.ljsonl.gz');
  const r = await execa('node', [bin, 'capture', '--vm', '--kernel', k.arg, '--out', out, '--', ...s.argv], {
    cwd: root,
    reject: false,
    all: true,
    timeout: 1_500_000,
  });
  expect(r.exitCode, r.all.slice(-3000)).toBe(0);
  return { report: buildReport(await analyzeFile(out)), log: r.all };
}

/** Every case of the suite (and the flags no case claims) judged: the verdicts that are not ok. */
function notOk(k: TruthKernel, s: TruthSuite, report: AnalysisReport): unknown[] {
  const ex = loadExpectations();
  const results = s.cases.map((c) => judge(k, c.name, flagsOf(c, report.flags), ex));
  results.push(judge(k, `${s.id}:other`, unclaimed(s, report.flags), ex));
  return results.filter((r) => r.verdict !== 'ok');
}

describe('truth on stock 6.1: LTP fanotify, inotify and epoll tests', () => {
  const k: TruthKernel = { id: '6.1', arg: '6.1', bug: false };
  const groups: LtpGroup[] = ['fanotify', 'inotify', 'epoll'];
  let report: AnalysisReport;
  let log: string;
  let suite: TruthSuite;
  let names: string[];

  beforeAll(async () => {
    const ltp = await ensureLtp(groups);
    names = (await ltpTests(ltp.root, groups)).map((t) => t.name);
    suite = await ltpSuite(ltp.root, groups);
    ({ report, log } = await captureSuite(k, suite));
  }, 1_600_000);

  it("ran every test of the groups, fanotify07 (the 2016 thread's test) to a pass", () => {
    expect(names.length).toBeGreaterThan(70);
    for (const n of names) expect(log).toMatch(new RegExp(`^ltp ${n}: exit`, 'm'));
    expect(log).toMatch(/^ltp fanotify07: exit 0 pass/m);
    expect(log).not.toMatch(/^ltp \S+: exit .* timeout/m);
  });

  it('loses nothing', () => {
    expect(report.lost_events).toBe(0);
    expect(report.summary.events).toBeGreaterThan(1000);
  });

  it('raises no warning or error the evidence does not justify', () => {
    expect(notOk(k, suite, report)).toEqual([]);
  });
});

describe('truth on stock 6.12: real programs', () => {
  const k: TruthKernel = { id: '6.12', arg: '6.12', bug: false };
  let report: AnalysisReport;
  let log: string;

  beforeAll(async () => {
    ({ report, log } = await captureSuite(k, PROGRAMS_SUITE));
  }, 1_600_000);

  it('ran nginx, http.server and the build to completion', () => {
    for (const p of ['nginx', 'httpserver', 'build']) expect(log).toMatch(new RegExp(`^program ${p}: exit 0`, 'm'));
  });

  it('loses nothing', () => {
    expect(report.lost_events).toBe(0);
    expect(report.summary.events).toBeGreaterThan(1000);
  });

  it('raises no warning or error the evidence does not justify', () => {
    expect(notOk(k, PROGRAMS_SUITE, report)).toEqual([]);
  });
});
