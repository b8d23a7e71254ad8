/** Bad input is counted, never thrown: every anomaly keeps its line number and an excerpt. */

export type AnomalyKind =
  | 'bad-header'
  | 'no-header'
  | 'malformed-json'
  | 'bad-envelope'
  | 'unknown-record'
  | 'bad-record'
  /** A record's trailing kernel stack field is not a kstack: the event is kept without it. */
  | 'bad-stack'
  | 'truncated-line'
  | 'late-event'
  | 'inconsistent-state';

export interface Anomaly {
  kind: AnomalyKind;
  line: number;
  message: string;
  excerpt?: string;
}

const EXCERPT = 160;
const KEEP_PER_KIND = 50;

export class AnomalyLog {
  readonly counts = new Map<AnomalyKind, number>();
  readonly examples: Anomaly[] = [];

  add(kind: AnomalyKind, line: number, message: string, text?: string): void {
    const n = (this.counts.get(kind) ?? 0) + 1;
    this.counts.set(kind, n);
    if (n > KEEP_PER_KIND) return;
    const a: Anomaly = { kind, line, message };
    if (text !== undefined) a.excerpt = text.length > EXCERPT ? `${text.slice(0, EXCERPT)}…` : text;
    this.examples.push(a);
  }

  /** Replaces this log's content with another's (the decode worker's). */
  adopt(counts: ReadonlyMap<AnomalyKind, number>, examples: readonly Anomaly[]): void {
    this.counts.clear();
    for (const [k, n] of counts) this.counts.set(k, n);
    this.examples.length = 0;
    this.examples.push(...examples);
  }
}
