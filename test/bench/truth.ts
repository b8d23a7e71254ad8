/**
 * `npm run bench:truth`: the truth table. Every (kernel, workload) case: stock Debian 6.1 and 6.12
 * and each bug kernel, against the project's reproducers (test/kernel/workloads.py), LTP groups
 * (built from source, test/support/ltp.ts) and real programs (test/kernel/programs.py), each suite
 * one `capture --vm` per kernel, analysed with `analyze --json` and split into cases by the comms
 * of the flags' evidence. Prints, as each capture is judged,
 *   {"bench":"truth","kernel","case","expected","got","verdict":"ok|false-alarm|missed|failed"}
 * then {"bench":"truth-summary",...} and the probe overhead on a real server:
 *   {"bench":"kernel-overhead","workload":"http","rps_ratio":R}
 *
 * Environment: LIFETRACE_BUG_KERNEL=[ID=]BZIMAGE[,...] names the bug kernels (ID defaults to
 * epoll-poll; without it, every bug kernel lifetrace knows is built, once, or taken from the cache); LIFETRACE_TRUTH_KERNELS=6.1,6.12,ID and LIFETRACE_TRUTH_SUITES=repro,ltp,programs,overhead
 * choose a part of the table; LIFETRACE_TRUTH_DIR keeps the captures and logs (default: a temp dir).
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { AnalysisReport } from '../../server/report/build.js';
import { PROJECT_ROOT } from '../../server/support/paths.js';
import { BUGS, bugKernel, type BugName } from '../../server/vm/build-kernel.js';
import { shQuote } from '../../server/vm/command.js';
import { GUEST_XCH, runInGuest } from '../../server/vm/guest.js';
import { ensureLtp, type LtpGroup } from '../support/ltp.js';
import {
  failedCase,
  flagsOf,
  judge,
  loadExpectations,
  ltpSuite,
  PROGRAMS_SUITE,
  reproSuite,
  summarize,
  unclaimed,
  type CaseResult,
  type TruthKernel,
  type TruthSuite,
} from '../support/truth.js';

const bin = join(PROJECT_ROOT, 'server', 'bin', 'lifetrace.js');
const dir = process.env.LIFETRACE_TRUTH_DIR ?? mkdtempSync(join(tmpdir(), 'lifetrace-truth-'));
if (process.env.LIFETRACE_TRUTH_DIR !== undefined) mkdirSync(dir, { recursive: true });
const list = (v: string | undefined): string[] | undefined =>
  v
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
const log = (s: string): void => void process.stderr.write(`${s}\n`);

/**
 * Bug kernels from LIFETRACE_BUG_KERNEL (ID=PATH or PATH: the 2024 epoll fix reverted), else every
 * bug of server/vm/build-kernel.ts, built (once, cached) from Debian's linux-source-6.1.
 */
async function bugKernels(): Promise<TruthKernel[]> {
  const given = list(process.env.LIFETRACE_BUG_KERNEL);
  if (given !== undefined) {
    return given.map((spec) => {
      const [id, path] = spec.includes('=') ? (spec.split('=', 2) as [string, string]) : ['epoll-poll', spec];
      return { id, arg: path, bug: true };
    });
  }
  const out: TruthKernel[] = [];
  for (const bug of Object.keys(BUGS) as BugName[]) {
    const k = await bugKernel(bug, { log: (s) => process.stderr.write(`${s}\n`) });
    if (!k.ok) throw new Error(k.error);
    out.push({ id: bug, arg: k.value.image, bug: true });
  }
  return out;
}

const wantKernels = list(process.env.LIFETRACE_TRUTH_KERNELS);
const stockOnly = wantKernels?.every((k) => k === '6.1' || k === '6.12');
const allKernels: TruthKernel[] = [
  { id: '6.1', arg: '6.1', bug: false },
  { id: '6.12', arg: '6.12', bug: false },
  ...(stockOnly ? [] : await bugKernels()),
];
const kernels = allKernels.filter((k) => wantKernels === undefined || wantKernels.includes(k.id));
const suites = list(process.env.LIFETRACE_TRUTH_SUITES) ?? ['repro', 'ltp', 'programs', 'overhead'];
const LTP_GROUPS_RUN: LtpGroup[] = ['fanotify', 'inotify', 'epoll', 'pty'];

/** One suite on one kernel: capture in the guest, analyse, judge each case. */
async function runSuite(k: TruthKernel, s: TruthSuite): Promise<CaseResult[]> {
  const out = join(dir, `${s.id}-${k.id}.ljsonl.gz`);
  const started = Date.now();
  const cap = await execa('node', [bin, 'capture', '--vm', '--kernel', k.arg, '--out', out, '--', ...s.argv], {
    cwd: PROJECT_ROOT,
    reject: false,
    all: true,
    timeout: 3_600_000,
  });
  await writeFile(join(dir, `${s.id}-${k.id}.log`), cap.all ?? '');
  const captureS = (Date.now() - started) / 1000;
  const an = await execa('node', [bin, 'analyze', out, '--json'], { reject: false, maxBuffer: 1 << 30 });
  if (an.exitCode !== 0) {
    const why = `no capture (capture exit ${String(cap.exitCode)}): ${(cap.all ?? '').trim().split('\n').slice(-3).join(' | ')}`;
    return s.cases.map((c) => failedCase(k, c.name, why));
  }
  const report = JSON.parse(an.stdout) as AnalysisReport;
  const ran = (cap.all ?? '').split('\n').filter((l) => /^(ltp: \d+ tests|workload \w+: exit|program \w+: exit)/.test(l));
  log(
    `truth: ${s.id} on ${k.id}: capture ${captureS.toFixed(0)} s (command exit ${String(cap.exitCode)}), ${report.summary.events} events, ${report.lost_events} lost, ${report.flags.length} flags; ${ran.join('; ')}`,
  );
  const ex = loadExpectations();
  const results = s.cases.map((c) => judge(k, c.name, flagsOf(c, report.flags), ex));
  const rest = unclaimed(s, report.flags);
  if (rest.length > 0) results.push(judge(k, `${s.id}:other`, rest, ex));
  return results;
}

/** Requests per second of nginx under wrk in one guest, without probes and with lifetrace's. */
async function overhead(k: TruthKernel): Promise<void> {
  const ran = await runInGuest(
    {
      kernel: k.arg as '6.1',
      timeoutS: 900,
      script: `cd ${shQuote(PROJECT_ROOT)} && exec node dist/test/bench/http-guest.js ${GUEST_XCH}/result.json`,
    },
    log,
  );
  if (!ran.ok) throw new Error(ran.error);
  const r = ran.value;
  try {
    const res = JSON.parse(await readFile(join(r.xch, 'result.json'), 'utf8')) as {
      rps_none: number;
      rps: number;
      seconds: number;
      events: number;
      lost: number;
    };
    log(
      `truth: http overhead on ${k.id}: nginx + wrk for ${res.seconds} s, ${res.rps_none.toFixed(0)} req/s without probes, ${res.rps.toFixed(0)} with (${res.events} events, ${res.lost} lost)`,
    );
    console.log(
      JSON.stringify({
        bench: 'kernel-overhead',
        workload: 'http',
        kernel: k.id,
        rps_ratio: Math.round((res.rps / res.rps_none) * 1000) / 1000,
      }),
    );
  } catch {
    log(r.jobLog.slice(-3000) + r.console.slice(-1000));
    console.log(
      JSON.stringify({
        bench: 'kernel-overhead',
        workload: 'http',
        kernel: k.id,
        error: `the guest run failed (exit ${String(r.exitCode)})`,
      }),
    );
  }
}

const started = Date.now();
log(`truth: captures and logs in ${dir}`);
const ltpRoot = suites.includes('ltp') ? (await ensureLtp(LTP_GROUPS_RUN, log)).root : '';
const results: CaseResult[] = [];
for (const k of kernels) {
  // A bug kernel is judged on the reproducers: the LTP groups and programs are the stock kernels' truth.
  const plan: TruthSuite[] = [];
  if (suites.includes('repro')) plan.push(reproSuite(k));
  if (!k.bug && suites.includes('ltp')) plan.push(await ltpSuite(ltpRoot, LTP_GROUPS_RUN));
  if (!k.bug && suites.includes('programs')) plan.push(PROGRAMS_SUITE);
  for (const s of plan) {
    for (const r of await runSuite(k, s)) {
      results.push(r);
      console.log(JSON.stringify(r));
    }
  }
}
console.log(JSON.stringify(summarize(results, kernels, loadExpectations())));
if (suites.includes('overhead')) await overhead(kernels.find((k) => !k.bug) ?? allKernels[0]!);
log(`truth: ${((Date.now() - started) / 60_000).toFixed(1)} min`);
