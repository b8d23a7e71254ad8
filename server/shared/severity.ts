/**
 * How bad a flag is (docs/rules.md): the one definition for rules, reports, the live server and the
 * dashboard. `error` means the evidence shows the dangerous step on this kernel.
 */

/** Lowest first: a filter "at or above" and the report's order both follow it. */
export const SEVERITIES = ['info', 'warning', 'error'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** 0 for info, up to 2 for error. */
export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

/** Whether `s` is `min` or worse (GET /api/flags?severity=, the filter bar, `analyze --fail-on`). */
export function atLeast(s: Severity, min: Severity): boolean {
  return severityRank(s) >= severityRank(min);
}
