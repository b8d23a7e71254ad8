/**
 * `npm run bench:replay`: a capture of about 1 GB, replayed through a real `lifetrace replay`
 * server at full speed and exported to Perfetto JSON; memory must stay bounded by what is live,
 * not by the file.
 *
 * Prints one JSON line each:
 *   {"bench":"replay-large","bytes":B,"events":N,"peak_rss_mb":M,"events_per_s":X,...}
 *     the server's peak RSS; X over the whole replay: the first pass (span and flag times for the
 *     time axis) and the replay itself, both of which read the whole file
 *   {"bench":"export-large","bytes":B,"events":N,"peak_rss_mb":M,"events_per_s":X,"trace_bytes":T}
 *
 * LIFETRACE_BENCH_REPLAY_EVENTS sets the size (default 10M events, about 1.05 GB).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { HostView } from '../../server/shared/wire.js';
import { BIN, launch, until } from '../support/live.js';
import { generateCapture } from './generate.js';
import { peakRssMb } from './streams.js';

const EVENTS = Number(process.env.LIFETRACE_BENCH_REPLAY_EVENTS ?? 10_000_000);

const print = (o: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
const progress = (s: string): void => void process.stderr.write(`bench:replay: ${s}\n`);

async function replayRun(path: string, dir: string): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const { proc, url } = await launch(['replay', path, '--speed', 'max', '--port', '0', '--data', dir]);
  try {
    const ready = performance.now();
    let peak = 0;
    const host = await until(
      async () => {
        peak = Math.max(peak, peakRssMb(proc.pid!));
        const h = ((await (await fetch(new URL('/api/hosts', url))).json()) as HostView[])[0];
        return h?.replay?.finished ? h : undefined;
      },
      3_600_000,
      'the replay to finish',
    );
    const seconds = (performance.now() - t0) / 1000;
    return {
      bench: 'replay-large',
      bytes: statSync(path).size,
      events: host.events,
      peak_rss_mb: Math.max(peak, peakRssMb(proc.pid!)),
      events_per_s: Math.round(host.events / seconds),
      first_pass_s: Math.round((ready - t0) / 100) / 10,
      seconds: Math.round(seconds * 10) / 10,
    };
  } finally {
    proc.kill('SIGINT');
  }
}

async function exportRun(path: string, dir: string, events: number): Promise<Record<string, unknown>> {
  const out = join(dir, 'trace.json');
  const t0 = performance.now();
  // GNU time reports the peak RSS of the export process ("Maximum resident set size", kB).
  const r = await execa('/usr/bin/time', ['-v', process.execPath, BIN, 'export', path, '-o', out], { reject: false, all: false });
  const seconds = (performance.now() - t0) / 1000;
  if (r.exitCode !== 0) throw new Error(`export failed: ${r.stderr}`);
  const kb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1] ?? NaN);
  return {
    bench: 'export-large',
    bytes: statSync(path).size,
    events,
    peak_rss_mb: Math.round(kb / 102.4) / 10,
    events_per_s: Math.round(events / seconds),
    trace_bytes: statSync(out).size,
  };
}

const dir = mkdtempSync(join(tmpdir(), 'lifetrace-bench-replay-'));
try {
  const path = join(dir, 'large.ljsonl');
  progress(`generating ${EVENTS} events`);
  await generateCapture(path, EVENTS, 20261121);
  progress(`replaying ${(statSync(path).size / 1e9).toFixed(2)} GB`);
  const replay = await replayRun(path, dir);
  print(replay);
  progress('exporting');
  print(await exportRun(path, dir, replay.events as number));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
