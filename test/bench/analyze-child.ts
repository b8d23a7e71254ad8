/**
 * One measured analysis, in its own process so that its peak RSS is its own:
 *   node dist/test/bench/analyze-child.js CAPTURE
 * prints {"events","seconds","max_rss_mb",...} where seconds covers analyzeFile + buildReport only.
 */
import { analyzeFile } from '../../server/analyze/pipeline.js';
import { buildReport } from '../../server/report/build.js';

const path = process.argv[2];
if (path === undefined) {
  process.stderr.write('usage: node dist/test/bench/analyze-child.js CAPTURE\n');
  process.exit(2);
}

const t0 = process.hrtime.bigint();
const report = buildReport(await analyzeFile(path));
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;

const s = report.summary;
process.stdout.write(
  `${JSON.stringify({
    events: s.events,
    seconds,
    // ru_maxrss is in KiB on Linux.
    max_rss_mb: Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10,
    // Sanity checks for the driver: a generated capture must decode cleanly.
    anomalies: Object.values(s.anomaly_counts).reduce((a, b) => a + b, 0),
    flags: report.flags.length,
    input_error: s.input_error,
  })}\n`,
);
