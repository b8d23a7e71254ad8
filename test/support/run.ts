/** Helpers that run captures through the real pipeline, from a file or in chosen chunk sizes. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Analysis, analyzeFile, type AnalysisOptions } from '../../server/analyze/pipeline.js';
import { PackingDecoder } from '../../server/decode/packed/packing.js';
import { buildReport, type AnalysisReport } from '../../server/report/build.js';
import { traceToCapture, type TraceOptions } from './trace.js';
import { mulberry32 } from './prng.js';

const dir = mkdtempSync(join(tmpdir(), 'lifetrace-test-'));
let n = 0;

export function writeCapture(content: string | Buffer, name = `c${++n}.ljsonl`, gzip = false): string {
  const p = join(dir, name);
  writeFileSync(p, gzip ? gzipSync(content) : content);
  return p;
}

export async function analyzeTrace(src: string, opts: TraceOptions & Partial<AnalysisOptions> = {}): Promise<AnalysisReport> {
  return buildReport(await analyzeFile(writeCapture(traceToCapture(src, opts)), opts));
}

/** Feeds `content` in chunks whose sizes come from `sizes` (cycled). */
export function analyzeChunked(content: Buffer, sizes: () => number, opts: Partial<AnalysisOptions> = {}): AnalysisReport {
  const a = new Analysis(opts);
  for (let i = 0; i < content.length; ) {
    const k = Math.max(1, sizes());
    a.push(content.subarray(i, i + k));
    i += k;
  }
  return buildReport(a.end());
}

/** A seeded PRNG so random chunkings are reproducible. */
export const seeded = mulberry32;

export const flagsOf = (r: AnalysisReport, rule: string) => r.flags.filter((f) => f.rule === rule);

/** What analyzeFile does with the decode worker for big files, in this thread: `bytes` pushed in chunks of `chunk`. */
export function analyzePacked(bytes: Buffer, chunk: number): AnalysisReport {
  const a = new Analysis();
  const packer = new PackingDecoder(
    (b) => {
      a.pushOrdered(b);
      packer.recycle(b.nums);
    },
    a.options.reorder,
    (h) => a.guards.setHeader(h),
  );
  for (let i = 0; i < bytes.length; i += chunk) packer.push(bytes.subarray(i, i + chunk));
  return buildReport(a.endOrdered(packer.end()));
}
