/**
 * `npm run bench`: analysis throughput against jq on the same capture, and peak memory on a large one.
 *
 * Prints one JSON line per benchmark on stdout:
 *   {"bench":"analyze","events":N,"events_per_s":X,"jq_lines_per_s":Y,"ratio_vs_jq":X/Y}
 *   {"bench":"analyze-memory","events":N,"peak_rss_mb":M}
 * Targets (printed, not asserted): >= 1M events/s, >= 2x jq, < 300 MB.
 *
 * X is timed inside a child process (analyze-child.js: analyzeFile + buildReport only); Y is the
 * wall time of `jq -c .data FILE > /dev/null`. Each is the best of RUNS runs. Captures are generated
 * into a fresh directory under os.tmpdir() and deleted at the end.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateCapture } from './generate.js';

const SPEED_EVENTS = 2_000_000;
const MEMORY_EVENTS = 10_000_000;
const RUNS = 3;
const SEED = 20261121;
const CHILD = fileURLToPath(new URL('./analyze-child.js', import.meta.url));

interface ChildResult {
  events: number;
  seconds: number;
  max_rss_mb: number;
  anomalies: number;
  flags: number;
  input_error: string | null;
}

const print = (o: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
const progress = (s: string): void => {
  if (process.stderr.isTTY) process.stderr.write(`bench: ${s}\n`);
};

/** Runs a command (no shell); resolves with its stdout (unless redirected), exit code and wall time. */
function run(cmd: string, args: string[], stdout: 'pipe' | number): Promise<{ code: number | null; out: string; seconds: number }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['ignore', stdout, 'inherit'] });
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, seconds: Number(process.hrtime.bigint() - t0) / 1e9 }));
  });
}

async function hasJq(): Promise<boolean> {
  try {
    return (await run('jq', ['--version'], 'pipe')).code === 0;
  } catch {
    return false;
  }
}

async function analyzeInChild(path: string): Promise<ChildResult> {
  const r = await run(process.execPath, [CHILD, path], 'pipe');
  if (r.code !== 0) throw new Error(`analyze-child exited with ${r.code}`);
  const last = r.out.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as ChildResult;
}

async function jqSeconds(path: string): Promise<number> {
  const devNull = await open('/dev/null', 'w');
  try {
    const r = await run('jq', ['-c', '.data', path], devNull.fd);
    if (r.code !== 0) throw new Error(`jq exited with ${r.code}`);
    return r.seconds;
  } finally {
    await devNull.close();
  }
}

/** A generated capture must analyze cleanly and completely; say so (on stderr) when it does not. */
function check(name: string, generated: number, r: ChildResult): void {
  if (r.events !== generated || r.anomalies !== 0 || r.input_error !== null) {
    process.stderr.write(
      `bench: ${name}: expected ${generated} events and no anomalies, got ${r.events} events, ${r.anomalies} anomalies` +
        `${r.input_error ? `, input error: ${r.input_error}` : ''}\n`,
    );
  }
}

async function main(): Promise<number> {
  if (!(await hasJq())) {
    print({ bench: 'analyze', error: 'jq not found: apt-get install jq' });
    return 1;
  }
  const dir = await mkdtemp(join(tmpdir(), 'lifetrace-bench-'));
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  const onSignal = (): void => {
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // 1. Throughput, against jq on the same file.
    const speedFile = join(dir, 'speed.ljsonl');
    progress(`generating ${SPEED_EVENTS} events`);
    const speed = await generateCapture(speedFile, SPEED_EVENTS, SEED);
    let best = Infinity;
    let bestJq = Infinity;
    for (let i = 0; i < RUNS; i++) {
      progress(`throughput run ${i + 1}/${RUNS}`);
      const r = await analyzeInChild(speedFile);
      check('analyze', speed.events, r);
      best = Math.min(best, r.seconds);
      bestJq = Math.min(bestJq, await jqSeconds(speedFile));
    }
    const eventsPerS = speed.events / best;
    const jqLinesPerS = (speed.events + 1) / bestJq; // every record line plus the header
    print({
      bench: 'analyze',
      events: speed.events,
      events_per_s: Math.round(eventsPerS),
      jq_lines_per_s: Math.round(jqLinesPerS),
      ratio_vs_jq: Math.round((eventsPerS / jqLinesPerS) * 1000) / 1000,
    });

    // 2. Peak memory on a large capture.
    const memFile = join(dir, 'memory.ljsonl');
    progress(`generating ${MEMORY_EVENTS} events`);
    const mem = await generateCapture(memFile, MEMORY_EVENTS, SEED + 1);
    progress('memory run');
    const m = await analyzeInChild(memFile);
    check('analyze-memory', mem.events, m);
    print({ bench: 'analyze-memory', events: mem.events, peak_rss_mb: m.max_rss_mb });
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await rm(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
