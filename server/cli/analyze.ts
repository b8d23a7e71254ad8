import { analyzeFile, type Analysis } from '../analyze/pipeline.js';
import { NS_PER_MS } from '../model/time.js';
import { buildReport, type AnalysisReport } from '../report/build.js';
import { renderText } from '../report/text.js';
import { SEVERITIES, severityRank, type Severity } from '../shared/severity.js';
import { DEFAULT_REORDER } from '../decode/reorder.js';
import { FAILURE_KINDS } from '../decode/anomalies.js';
import { err, ok } from '../support/result.js';
import { parse, positiveNumber, type CommandResult, type Print } from './args.js';
import { ANALYSIS_ARGS, analysisOptions, readableCapture } from './analysis-args.js';

export const ANALYZE_USAGE = `usage: lifetrace analyze CAPTURE [options]

Reconstructs object lifetimes from a capture (plain or .gz) and reports suspicious orderings.

options:
  --json                 print one JSON object instead of the text report
  --fail-on LEVEL        exit 1 when a flag at or above LEVEL exists (info, warning, error)
  --rules a,b            run only these rules (default: all; see 'lifetrace rules')
  --perm-wait-ms N       threshold of fsnotify.long-permission-wait (default 100)
  --reorder-window-ms N  how late a per-CPU record may arrive and still be ordered (default ${DEFAULT_REORDER.windowNs / NS_PER_MS})
  --chains N             evidence chains shown per rule in the text report (default 3)

exit status: 0 done; 1 a flag at or above --fail-on; 2 usage or input error;
             3 the analysis failed on some records (a rule or the lifetime model threw: the anomalies
               rule-error and model-error name them); the rest of the report stands`;

export async function analyzeCommand(argv: string[], print: Print): Promise<CommandResult> {
  const args = parse(
    argv,
    {
      json: { type: 'boolean' },
      'fail-on': { type: 'string' },
      ...ANALYSIS_ARGS,
      chains: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    ANALYZE_USAGE,
  );
  if (!args.ok) return args;
  const { values, positionals } = args.value;
  if (values.help) {
    print(`${ANALYZE_USAGE}\n`);
    return ok(0);
  }
  if (positionals.length !== 1) return err(`analyze takes exactly one CAPTURE file\n\n${ANALYZE_USAGE}`);

  const failOn = values['fail-on'] as Severity | undefined;
  if (failOn !== undefined && !SEVERITIES.includes(failOn))
    return err(`--fail-on takes one of ${SEVERITIES.join(', ')}, got ${JSON.stringify(failOn)}`);
  const options = analysisOptions(values);
  if (!options.ok) return options;
  const chains = positiveNumber('chains', values.chains, 3);
  if (!chains.ok) return chains;

  const path = await readableCapture(positionals[0]!);
  if (!path.ok) return path;
  const analysis = await analyzeFile(path.value, options.value);
  const report = buildReport(analysis);
  print(values.json ? `${JSON.stringify(report)}\n` : renderText(report, { chainsPerRule: chains.value }));
  const { status, message } = analyzeStatus(analysis, report, failOn);
  if (message !== undefined) process.stderr.write(`lifetrace: ${message}\n`);
  return ok(status);
}

export interface AnalyzeStatus {
  status: number;
  /** For stderr, when the status is not the report's to explain. */
  message?: string;
}

/** The exit status of `analyze` (see ANALYZE_USAGE), and what to say on stderr when it is not the report's. */
export function analyzeStatus(analysis: Analysis, report: AnalysisReport, failOn: Severity | undefined): AnalyzeStatus {
  const failures = analysis.decoder.anomalies.total(FAILURE_KINDS);
  if (failures > 0) {
    const first = analysis.decoder.anomalies.examples.find((x) => FAILURE_KINDS.includes(x.kind))!;
    return {
      status: 3,
      message:
        `the analysis failed on ${failures} record(s), its flags may be incomplete; ` + `first, line ${first.line}: ${first.message}`,
    };
  }
  if (failOn !== undefined && report.flags.some((f) => severityRank(f.severity) >= severityRank(failOn))) return { status: 1 };
  return { status: 0 };
}
