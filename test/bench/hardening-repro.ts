/**
 * Prints what the inputs of issue 11's finding 8 cost on this build: records over 4 and over 65,536
 * CPU numbers, times running backwards on one CPU, one long line in a small gzip, a gzip bomb
 * (figures, not assertions: run it before and after a change). RECORDS=n sets the record count.
 *   npx vite-node test/bench/hardening-repro.ts
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { analyzeFile } from '../../server/analyze/pipeline.js';
import { buildReport } from '../../server/report/build.js';
import { traceToCapture } from '../support/trace.js';

const dir = mkdtempSync(join(tmpdir(), 'lifetrace-repro-'));
const HEADER = traceToCapture('1.000 0 100 app fdi 3 @a\n').split('\n')[0]!;
const fdi = (t: bigint, cpu: number, fd: number): string =>
  `{"type": "printf", "data": ${JSON.stringify(['fdi', t.toString(), cpu, 100, 100, fd, (0xffff888100000000n + BigInt(fd) * 0x1000n).toString(16), 'app'].join('\t'))}}`;

async function run(name: string, content: Buffer | string, gz = false): Promise<void> {
  const p = join(dir, name);
  writeFileSync(p, gz ? gzipSync(content) : content);
  const t0 = performance.now();
  const r = buildReport(await analyzeFile(p));
  const ms = Math.round(performance.now() - t0);
  console.log(
    `${name}: ${ms} ms, events ${r.summary.events}, anomalies ${JSON.stringify(r.summary.anomaly_counts)}, input_error ${r.summary.input_error}`,
  );
}

const spread = (cpus: number, n: number): string => {
  const lines = [HEADER];
  for (let i = 0; i < n; i++) lines.push(fdi(1_000_000_000_000n + BigInt(i) * 1000n, (i * 7919) % cpus, 3 + (i % 500)));
  return `${lines.join('\n')}\n`;
};
const n = Number(process.env.RECORDS ?? 40_000);
await run('4-cpus.ljsonl', spread(4, n));
await run('65536-cpus.ljsonl', spread(65_536, n));
const backwards = [HEADER];
for (let i = 0; i < n; i++) backwards.push(fdi(1_000_000_000_000n - BigInt(i), 0, 3 + (i % 500)));
await run('backwards-1-cpu.ljsonl', `${backwards.join('\n')}\n`);
const rec = traceToCapture('1.000 0 100 app fdi 3 @a\n');
await run(
  'long-line.ljsonl.gz',
  Buffer.concat([Buffer.from(rec), Buffer.alloc(48 << 20, 'y'), Buffer.from('\n'), Buffer.from(`${rec.split('\n')[1]!}\n`)]),
  true,
);
await run(
  'bomb.ljsonl.gz',
  Buffer.concat([Buffer.from(`${HEADER}\n`), Buffer.alloc(160 << 20, `${fdi(1_000_000_000_000n, 0, 3)}\n`)]),
  true,
);
