/** The analysis options `analyze` and `export` share, so that both report the same flags. */
import { access } from 'node:fs/promises';
import type { AnalysisOptions } from '../analyze/pipeline.js';
import { DEFAULT_REORDER } from '../decode/reorder.js';
import { NS_PER_MS } from '../model/time.js';
import { RULES } from '../rules/index.js';
import { DEFAULT_RULE_OPTIONS } from '../rules/rule.js';
import { err, ok, type Result } from '../support/result.js';
import { positiveNumber } from './args.js';

/** The options' parseArgs entries. */
export const ANALYSIS_ARGS = {
  rules: { type: 'string' },
  'perm-wait-ms': { type: 'string' },
  'reorder-window-ms': { type: 'string' },
} as const;

export function analysisOptions(values: {
  rules?: string | undefined;
  'perm-wait-ms'?: string | undefined;
  'reorder-window-ms'?: string | undefined;
}): Result<Partial<AnalysisOptions>> {
  let rules = RULES;
  if (values.rules !== undefined) {
    const ids = values.rules
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const unknown = ids.filter((id) => !RULES.some((r) => r.id === id));
    if (unknown.length > 0 || ids.length === 0) {
      return err(`unknown rule(s) ${unknown.join(', ') || '(none given)'}; known rules:\n  ${RULES.map((r) => r.id).join('\n  ')}`);
    }
    rules = RULES.filter((r) => ids.includes(r.id));
  }
  const permWaitMs = positiveNumber('perm-wait-ms', values['perm-wait-ms'], DEFAULT_RULE_OPTIONS.permWaitNs / NS_PER_MS);
  if (!permWaitMs.ok) return permWaitMs;
  const windowMs = positiveNumber('reorder-window-ms', values['reorder-window-ms'], DEFAULT_REORDER.windowNs / NS_PER_MS);
  if (!windowMs.ok) return windowMs;
  return ok({
    rules,
    ruleOptions: { ...DEFAULT_RULE_OPTIONS, permWaitNs: permWaitMs.value * NS_PER_MS },
    reorder: { ...DEFAULT_REORDER, windowNs: windowMs.value * NS_PER_MS },
  });
}

/** A usage error now, rather than an input error later, for a capture that cannot be read. */
export async function readableCapture(path: string): Promise<Result<string>> {
  try {
    await access(path);
    return ok(path);
  } catch {
    return err(`cannot read capture ${JSON.stringify(path)}: no such file or not readable`);
  }
}
