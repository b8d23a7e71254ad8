/** Raised flags, one per rule and key, with a count of occurrences. Bounded per rule. */
import type { KernelEvent } from '../model/events.js';
import type { ObjectId } from '../model/objects.js';
import type { Nanos } from '../model/time.js';
import type { FlagSink, Guard, MailingListThread, RaisedFlag, RuleInfo, Severity } from './rule.js';
import { KernelGuards } from './guards.js';

export interface Flag {
  rule: string;
  severity: Severity;
  /** The mailing-list thread its rule comes from (reports: `thread`). */
  mailingList: MailingListThread;
  key: string;
  /** Occurrences folded into this flag. */
  count: number;
  time: Nanos;
  lastTime: Nanos;
  objects: ObjectId[];
  /** Evidence of the first occurrence, in kernel-time order. */
  evidence: KernelEvent[];
  message: string;
  /** Whether this kernel carries the rule's fix: the flag's own decision, else the kernel-level one. */
  /** Absent for a rule that names no fix (it flags documented behaviour). */
  guard?: Guard;
}

export interface RuleCount {
  flags: number;
  occurrences: number;
  /** Distinct flags not kept because the rule hit its cap (still counted in occurrences). */
  dropped: number;
}

export class FlagStore implements FlagSink {
  private readonly byKey = new Map<string, Flag>();
  readonly perRule = new Map<string, RuleCount>();
  /** Occurrences by rule and severity ("rule|severity"): a rule's severity depends on the evidence. */
  readonly perSeverity = new Map<string, number>();
  private readonly listeners: ((f: Flag, isNew: boolean) => void)[] = [];

  constructor(
    private readonly maxPerRule = 1000,
    private readonly guards = new KernelGuards(),
  ) {}

  onFlag(fn: (f: Flag, isNew: boolean) => void): void {
    this.listeners.push(fn);
  }

  raise(rule: RuleInfo, r: RaisedFlag): void {
    const severity = r.severity ?? rule.severity;
    const key = `${rule.id}|${severity}|${r.key}`;
    let counts = this.perRule.get(rule.id);
    if (counts === undefined) this.perRule.set(rule.id, (counts = { flags: 0, occurrences: 0, dropped: 0 }));
    counts.occurrences++;
    const bySeverity = `${rule.id}|${severity}`;
    this.perSeverity.set(bySeverity, (this.perSeverity.get(bySeverity) ?? 0) + 1);
    const existing = this.byKey.get(key);
    if (existing !== undefined) {
      existing.count++;
      if (r.time > existing.lastTime) existing.lastTime = r.time;
      for (const l of this.listeners) l(existing, false);
      return;
    }
    if (counts.flags >= this.maxPerRule) {
      counts.dropped++;
      return;
    }
    counts.flags++;
    const evidence = r.evidence.filter((e): e is KernelEvent => e !== undefined);
    evidence.sort((a, b) => a.t - b.t || a.line - b.line);
    const flag: Flag = {
      rule: rule.id,
      severity,
      mailingList: rule.mailingList,
      key,
      count: 1,
      time: r.time,
      lastTime: r.time,
      objects: r.objects,
      evidence,
      message: r.message,
      ...guardField(r.guard ?? this.guards.of(rule)),
    };
    this.byKey.set(key, flag);
    for (const l of this.listeners) l(flag, true);
  }

  all(): Flag[] {
    return [...this.byKey.values()];
  }
}

const guardField = (g: Guard | undefined): { guard?: Guard } => (g === undefined ? {} : { guard: g });
