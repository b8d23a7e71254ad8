/**
 * `npm run bench:ranges`: the fleet's stream read as captures (server/fleet/stream-ranges.ts).
 *
 * A real nats-server (JetStream, file storage) is started and a real agent (`agent --replay
 * --nats`) publishes one host: a generated trace of LIFETRACE_BENCH_RANGES_EVENTS events (default
 * 1M) in five parts 15 s of kernel time apart. Then it prints, one JSON line each:
 *   {"bench":"ranges","what":"list","batches":B,"ms":X}       listing the stream (headers only)
 *   {"bench":"ranges","what":"whole","bytes":N,"batches_read":K,"ms":X,"rss_before_mb":Q,"peak_rss_mb":R,"mb_per_s":Y}   the whole run read
 *   {"bench":"ranges","what":"range","from_s":F,"to_s":T,"bytes":N,"batches_read":K,"ms":X,"rss_before_mb":Q,"peak_rss_mb":R}   one second of its fourth part
 * peak_rss_mb is the process' resident memory at its largest during the read, sampled every 20 ms,
 * rss_before_mb before it (the run is N bytes: a read that held it would show).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { printfNsecsOf } from '../../server/decode/envelope.js';
import { type RunRange, StreamRanges } from '../../server/fleet/stream-ranges.js';
import { connectAs, NatsServer, replayToNats } from '../support/nats.js';
import { generateCapture } from './generate.js';

const EVENTS = Number(process.env.LIFETRACE_BENCH_RANGES_EVENTS ?? 1_000_000);
const PARTS = 5;
const progress = (s: string): void => void process.stderr.write(`bench:ranges: ${s}\n`);

/** A trace of `parts` copies of one generated trace, each 15 s of kernel time after the one before. */
async function spreadCapture(path: string): Promise<void> {
  await generateCapture(path, Math.ceil(EVENTS / PARTS), 3);
  const one = readFileSync(path);
  const cut = one.indexOf(10) + 1;
  const body = one.subarray(cut).toString('latin1');
  const parts = Array.from({ length: PARTS }, (_, k) =>
    Buffer.from(
      body.replace(
        /^(\{"type": "printf", "data": "[^"\\]*\\t)(\d+)(\\t)/gm,
        (_m, a: string, t: string, b: string) => `${a}${BigInt(t) + BigInt(k) * 15_000_000_000n}${b}`,
      ),
      'latin1',
    ),
  );
  writeFileSync(path, Buffer.concat([one.subarray(0, cut), ...parts]));
}

/** Reads a range to its end, timing it and sampling the resident memory meanwhile. */
async function timed(ranges: StreamRanges, host: string, run: string, range: RunRange) {
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  const t0 = performance.now();
  const read0 = ranges.batchesRead;
  const r = await ranges.read(host, run, range);
  if (!r.ok) throw new Error(r.error.message);
  let bytes = 0;
  for await (const c of r.value.bytes) bytes += c.length;
  const ms = performance.now() - t0;
  clearInterval(sampler);
  return {
    bytes,
    batches_read: ranges.batchesRead - read0,
    ms: Math.round(ms),
    rss_before_mb: Math.round(before / 2 ** 20),
    peak_rss_mb: Math.round(peak / 2 ** 20),
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lifetrace-bench-ranges-'));
  const nats = new NatsServer();
  try {
    const capture = join(dir, 'spread.ljsonl');
    progress(`generating ${EVENTS} events in ${PARTS} parts`);
    await spreadCapture(capture);
    await nats.start();
    progress('publishing');
    const r = await replayToNats(nats, capture, 'bench');
    if (r.exitCode !== 0) throw new Error(`agent: ${r.all}`);
    const nc = await connectAs(nats, 'dashboard'); // what serve --nats reads the stream as
    const ranges = new StreamRanges(nc, printfNsecsOf);

    const t0 = performance.now();
    const [run] = await ranges.list();
    if (run === undefined) throw new Error('no run on the stream');
    console.log(JSON.stringify({ bench: 'ranges', what: 'list', batches: run.last_seq, ms: Math.round(performance.now() - t0) }));

    const whole = await timed(ranges, 'bench', run.run, {});
    console.log(
      JSON.stringify({ bench: 'ranges', what: 'whole', ...whole, mb_per_s: Math.round(whole.bytes / 2 ** 20 / (whole.ms / 1000)) }),
    );

    const from_s = run.first_s! + 45.01;
    const range = await timed(ranges, 'bench', run.run, { from_s, to_s: from_s + 1 });
    console.log(JSON.stringify({ bench: 'ranges', what: 'range', from_s, to_s: from_s + 1, ...range }));
    await nc.close();
  } finally {
    await nats.kill();
    rmSync(dir, { recursive: true, force: true });
    rmSync(nats.store, { recursive: true, force: true });
  }
}

await main();
