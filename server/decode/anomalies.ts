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
  | 'inconsistent-state'
  /** A record's CPU number is past MAX_CPUS: it is analyzed in arrival order, not merged by time. */
  | 'bad-cpu'
  /** A line longer than MAX_LINE_BYTES: skipped up to its newline, never held whole. */
  | 'long-line'
  /** A rule threw on a record: the rule goes on with the next one (analysis side, see ANALYSIS_SIDE). */
  | 'rule-error'
  /** The lifetime model threw on a record: the record is skipped, the analysis goes on. */
  | 'model-error'
  /** Anything else in the analysis threw (a server's host): the rest of that chunk is lost, the stream goes on. */
  | 'analysis-error';

/**
 * Kinds raised where records are analyzed, not where they are decoded: a decoder's account of the
 * stream (the decode worker's, adopted at the end) has none of them and must not erase them.
 */
export const ANALYSIS_SIDE: ReadonlySet<AnomalyKind> = new Set(['rule-error', 'model-error', 'analysis-error']);

/** Kinds that say the analysis itself went wrong (not the input): `analyze` exits non-zero on them. */
export const FAILURE_KINDS: readonly AnomalyKind[] = ['rule-error', 'model-error', 'analysis-error'];

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
    const mine = this.examples.filter((a) => ANALYSIS_SIDE.has(a.kind));
    for (const k of [...this.counts.keys()]) if (!ANALYSIS_SIDE.has(k)) this.counts.delete(k);
    for (const [k, n] of counts) if (!ANALYSIS_SIDE.has(k)) this.counts.set(k, n);
    this.examples.length = 0;
    this.examples.push(...examples.filter((a) => !ANALYSIS_SIDE.has(a.kind)), ...mine);
  }

  /** How many anomalies of these kinds were counted. */
  total(kinds: readonly AnomalyKind[]): number {
    let n = 0;
    for (const k of kinds) n += this.counts.get(k) ?? 0;
    return n;
  }
}
