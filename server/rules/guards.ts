/**
 * The kernel-level guard of each rule in one analysis: its fix's check from the capture header
 * (`fixes`, written at capture time from the kernel's own symbols and BTF: probes/fixes.ts), or
 * unknown. A flag's guard is its own (RaisedFlag.guard, decided from what the probes observed) when
 * the rule set one, else this one.
 */
import { commitOf, fixChecksOf, type FixChecks, type Guard } from '../model/fixes.js';
import type { RuleInfo } from './rule.js';

/**
 * undefined for a rule that names no fix: it flags documented behaviour (epoll's registration by
 * <file, fd>, fork sharing, reaping in __fput), which no kernel change closes.
 */
export function kernelGuardOf(rule: RuleInfo, fixes: FixChecks | undefined): Guard | undefined {
  const fix = rule.fix;
  if (fix === undefined) return undefined;
  if (rule.fixedGuard) return { fix, ...rule.fixedGuard };
  const commit = commitOf(fix);
  const check = commit === undefined ? undefined : fixes?.[commit];
  if (check) return { fix, ...check };
  if (fixes === undefined)
    return { fix, state: 'unknown', how: 'the capture header records no check of the kernel: raw bpftrace output, or an older lifetrace' };
  return { fix, state: 'unknown', how: 'not decided from the kernel: decided per flag from the probes' };
}

/** One analysis's kernel-level guards; the header comes after the rules were created. */
export class KernelGuards {
  private fixes: FixChecks | undefined;
  private readonly cache = new Map<string, Guard | undefined>();

  /** The capture header, when the decoder reads it. */
  setHeader(header: Record<string, unknown> | undefined): void {
    this.fixes = fixChecksOf(header);
    this.cache.clear();
  }

  of(rule: RuleInfo): Guard | undefined {
    if (!this.cache.has(rule.id)) this.cache.set(rule.id, kernelGuardOf(rule, this.fixes));
    return this.cache.get(rule.id);
  }
}
