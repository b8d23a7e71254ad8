/** Which rules can work with the records a resolved probe program can produce. */
import { RULES } from '../rules/index.js';
import type { Rule } from '../rules/rule.js';

export type RuleStatus = 'active' | 'degraded' | 'off';

export interface RuleCoverage {
  id: string;
  status: RuleStatus;
  /** Records it needs that will not come. */
  missing: string[];
}

export function ruleCoverage(tags: ReadonlySet<string>, rules: readonly Rule[] = RULES): RuleCoverage[] {
  return rules.map((r) => {
    const lacksAll = (r.needs.all ?? []).filter((t) => !tags.has(t));
    const any = r.needs.any ?? [];
    const lacksAny = any.length > 0 && !any.some((t) => tags.has(t));
    const lacksOptional = (r.needs.optional ?? []).filter((t) => !tags.has(t));
    if (lacksAll.length > 0 || lacksAny)
      return { id: r.id, status: 'off', missing: [...lacksAll, ...(lacksAny ? [`one of ${any.join('|')}`] : [])] };
    return { id: r.id, status: lacksOptional.length > 0 ? 'degraded' : 'active', missing: lacksOptional };
  });
}
