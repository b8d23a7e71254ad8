/**
 * The truth table: which workloads run in which capture, which of a capture's flags belong to which
 * case (by the comm of the tasks in their evidence), and the verdict of each case against the
 * expectations in test/kernel/truth-expectations.json. Shared by `npm run bench:truth` and the
 * stock-kernel truth tests.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AnalysisReport, FlagReport } from '../../server/report/build.js';
import type { Severity } from '../../server/rules/rule.js';
import { PROJECT_ROOT } from '../../server/support/paths.js';
import { ltpComms, type LtpGroup } from './ltp.js';

/** A kernel of the table: a stock Debian generation, or a bug kernel by id (and its image). */
export interface TruthKernel {
  id: string;
  /** What `--kernel` gets: 6.1, 6.12 or a bzImage path. */
  arg: string;
  bug: boolean;
}

/** One workload whose flags are judged together: the tasks (comms) that are its own. */
export interface TruthCase {
  name: string;
  comms: string[];
}

/** One capture: a command run under `capture --vm`, and the cases its flags are split into. */
export interface TruthSuite {
  id: string;
  argv: string[];
  cases: TruthCase[];
}

export interface Expectation {
  case: string;
  rule: string;
  severity: Severity;
  comm?: string;
  kernels?: string[];
  why: string;
}

interface ExpectationFile {
  justified: Expectation[];
  required: Expectation[];
  /** Info flags seen on stock kernels, explained (never alarms: they excuse nothing). */
  guarded: Expectation[];
}

export function loadExpectations(file = join(PROJECT_ROOT, 'test', 'kernel', 'truth-expectations.json')): ExpectationFile {
  return JSON.parse(readFileSync(file, 'utf8')) as ExpectationFile;
}

export type Verdict = 'ok' | 'false-alarm' | 'missed' | 'failed';

export interface CaseResult {
  bench: 'truth';
  kernel: string;
  case: string;
  expected: string;
  got: string;
  verdict: Verdict;
}

/** A flag worth a verdict: a warning or an error (info names a guarded ordering: it claims no danger). */
const alarming = (f: FlagReport): boolean => f.severity === 'warning' || f.severity === 'error';

const holdsOn = (e: Expectation, k: TruthKernel): boolean =>
  e.kernels === undefined || e.kernels.includes(k.id) || (!k.bug && e.kernels.includes('stock'));

const matches = (e: Expectation, f: FlagReport): boolean =>
  e.rule === f.rule && e.severity === f.severity && (e.comm === undefined || f.evidence.some((s) => s.comm === e.comm));

/** A task is the case's when its comm is one of the case's, or one of them followed by '-' (lt-xdel-child). */
const owns = (c: TruthCase, comm: string): boolean => c.comms.some((x) => comm === x || comm.startsWith(`${x}-`));

/** Flags whose evidence involves one of the case's tasks. */
export function flagsOf(c: TruthCase, flags: FlagReport[]): FlagReport[] {
  return flags.filter((f) => f.evidence.some((s) => owns(c, s.comm)));
}

/** The flags of a capture that no case of the suite claims (a kworker's, the runner's): a case of their own. */
export function unclaimed(s: TruthSuite, flags: FlagReport[]): FlagReport[] {
  return flags.filter((f) => !s.cases.some((c) => f.evidence.some((e) => owns(c, e.comm))));
}

/** The reproducers workloads.py knows, read from its WORKLOADS table. */
export function reproducers(file = join(PROJECT_ROOT, 'test', 'kernel', 'workloads.py')): string[] {
  const table = /^WORKLOADS = \{([^}]*)\}/m.exec(readFileSync(file, 'utf8'));
  if (!table) throw new Error(`${file}: no WORKLOADS table`);
  return [...table[1]!.matchAll(/'([\w-]+)':/g)].map((m) => m[1]!);
}

/** Tasks a reproducer forks under another name than lt-NAME[-...]. */
const REPRO_CHILDREN: Record<string, string[]> = { fanlate: ['lt-fan-opener'], fanteardown: ['lt-fan-waiter'] };

/** The project's own reproducers in one capture, a case each (eventfs only where eventfs exists: 6.6+). */
export function reproSuite(k: TruthKernel): TruthSuite {
  const names = reproducers().filter((n) => n !== 'eventfs' || k.id === '6.12');
  return {
    id: 'repro',
    argv: ['python3', 'test/kernel/workloads.py', ...names],
    cases: names.map((n) => ({ name: `repro:${n}`, comms: [`lt-${n}`, ...(REPRO_CHILDREN[n] ?? [])] })),
  };
}

/** Real programs (test/kernel/programs.py), a case each, by the comms of their own tasks. */
export const PROGRAMS_SUITE: TruthSuite = {
  id: 'programs',
  argv: ['python3', 'test/kernel/programs.py', 'all'],
  cases: [
    { name: 'program:nginx', comms: ['nginx', 'wrk'] },
    { name: 'program:httpserver', comms: ['python3', 'ab'] },
    { name: 'program:build', comms: ['make', 'sh', 'cc', 'gcc', 'cc1', 'as', 'ld', 'collect2', 'prog', 'inotifywait', 'tail'] },
  ],
};

const describeFlags = (fs: FlagReport[]): string => {
  const by = new Map<string, { n: number; comms: Set<string> }>();
  for (const f of fs) {
    const key = `${f.rule} ${f.severity}`;
    const v = by.get(key) ?? { n: 0, comms: new Set() };
    v.n += f.count;
    for (const e of f.evidence) v.comms.add(e.comm);
    by.set(key, v);
  }
  return [...by].map(([k, v]) => `${k} x${v.n} [${[...v.comms].slice(0, 4).join(',')}]`).join('; ');
};

/** The verdict of one case on one kernel: its own flags against what is justified and required. */
export function judge(k: TruthKernel, caseName: string, flags: FlagReport[], ex: ExpectationFile): CaseResult {
  const justified = ex.justified.concat(ex.required).filter((e) => e.case === caseName && holdsOn(e, k));
  const required = ex.required.filter((e) => e.case === caseName && holdsOn(e, k));
  const alarms = flags.filter(alarming);
  const unjustified = alarms.filter((f) => !justified.some((e) => matches(e, f)));
  const missing = required.filter((e) => !flags.some((f) => matches(e, f)));
  const expected = [...required.map((e) => `${e.rule} ${e.severity}`), 'no unjustified warning or error'].join('; ');
  const infos = flags.filter((f) => f.severity === 'info');
  const got = [
    alarms.length === 0 ? 'no warning or error' : describeFlags(alarms),
    ...(infos.length > 0 ? [`info: ${describeFlags(infos)}`] : []),
    ...(unjustified.length > 0 && unjustified.length < alarms.length ? [`unjustified: ${describeFlags(unjustified)}`] : []),
  ].join('; ');
  return {
    bench: 'truth',
    kernel: k.id,
    case: caseName,
    expected,
    got,
    verdict: missing.length > 0 ? 'missed' : unjustified.length > 0 ? 'false-alarm' : 'ok',
  };
}

/** A case whose capture did not come back: no verdict on the rules can be given. */
export const failedCase = (k: TruthKernel, caseName: string, why: string): CaseResult => ({
  bench: 'truth',
  kernel: k.id,
  case: caseName,
  expected: 'a capture',
  got: why,
  verdict: 'failed',
});

/** The summary line. True positives: required flags raised; bug kernels: how many were in the table. */
export function summarize(results: CaseResult[], kernels: TruthKernel[], ex: ExpectationFile): Record<string, unknown> {
  const truePositives = results.filter(
    (r) =>
      r.verdict !== 'missed' &&
      r.verdict !== 'failed' &&
      ex.required.some((e) => e.case === r.case && holdsOn(e, kernels.find((k) => k.id === r.kernel)!)),
  ).length;
  return {
    bench: 'truth-summary',
    cases: results.length,
    bug_kernels: kernels.filter((k) => k.bug).length,
    true_positives: truePositives,
    false_alarms: results.filter((r) => r.verdict === 'false-alarm').length,
    missed: results.filter((r) => r.verdict === 'missed').length,
    failed: results.filter((r) => r.verdict === 'failed').length,
  };
}

export type { AnalysisReport };

/** LTP groups in one capture, a case per group, by the names of the group's binaries. */
export async function ltpSuite(root: string, groups: readonly LtpGroup[], id = 'ltp'): Promise<TruthSuite> {
  return {
    id,
    argv: ['node', 'dist/test/support/ltp-run.js', root, groups.join(',')],
    cases: await Promise.all(groups.map(async (g) => ({ name: `ltp:${g}`, comms: await ltpComms(root, g) }))),
  };
}
