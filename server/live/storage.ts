/**
 * The state of the server's own disk writes (journals, recordings, uploads), for /api/server and
 * the page: a write that fails (a full disk above all) stops what it was writing, never the server,
 * and says so here. `counts` are the storage anomalies by kind (docs/security.md lists them).
 */
import type { StorageView } from '../shared/wire.js';

/** What a failed write says, in words a user acts on. */
export function writeFailure(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return `${code}: the disk is full`;
  if (code === 'EROFS') return `${code}: the disk is read-only`;
  return (e as Error).message ?? String(e);
}

export class StorageState {
  private problem: { error: string; since: number } | null = null;
  readonly counts = new Map<string, number>();

  constructor(private readonly clock: () => number) {}

  count(kind: string): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
  }

  /** A write failed: `what` stopped (counted as `kind`). */
  failed(kind: string, what: string, e: unknown): string {
    const error = `${what} stopped: ${writeFailure(e)}`;
    this.count(kind);
    this.problem = { error, since: this.problem?.since ?? this.clock() };
    return error;
  }

  /** A write went through again (the disk has room): the failure is history, its counts stay. */
  recovered(): void {
    this.problem = null;
  }

  view(): StorageView {
    return {
      ok: this.problem === null,
      error: this.problem?.error ?? null,
      since: this.problem?.since ?? null,
      counts: Object.fromEntries(this.counts),
    };
  }
}
