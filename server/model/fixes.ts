/**
 * The historical kernel fixes lifetrace's rules refer to, and whether the traced kernel carries one
 * (a Guard). Shared by the probes (which decide it from the kernel's own symbols and BTF at capture
 * time, into the capture header), the rules (per flag, from what the probes observed) and every view.
 */

/**
 * Whether the traced kernel carries a rule's fix, and how lifetrace decided it: from what the
 * probes observed (per flag), or from a fact checked on that kernel's own symbols, BTF or code
 * (per capture, recorded in its header). Never from a version number: distributions backport.
 */
export type GuardState = 'yes' | 'no' | 'unknown';
export const GUARD_STATES: readonly GuardState[] = ['yes', 'no', 'unknown'];
export interface Guard {
  fix: string;
  state: GuardState;
  /** How it was decided, e.g. "observed: ep_item_poll() returned without calling ->poll()". */
  how: string;
}

/** A kernel-level decision about one fix, as recorded in the capture header's `fixes`. */
export interface FixCheck {
  state: GuardState;
  how: string;
}

/** Commit id -> decision, as the capture header's `fixes` holds it. */
export type FixChecks = Record<string, FixCheck>;

export interface Fix {
  commit: string;
  title: string;
  version: string;
}

/** The fixes the non-epoll rules name (epoll rules name theirs in their own files). */
export const FIXES = {
  abc77577a669: { commit: 'abc77577a669', title: 'fsnotify: Provide framework for dropping SRCU lock in ->handle_event', version: 'v4.12' },
  d4f4de5e5ef8: { commit: 'd4f4de5e5ef8', title: 'Fix the locking in dcache_readdir() and friends', version: 'v5.4' },
  '43aa6f97c2d0': { commit: '43aa6f97c2d0', title: 'eventfs: Get rid of dentry pointers without refcounts', version: 'v6.8' },
} as const satisfies Record<string, Fix>;

/** "abc77577a669 (fsnotify: ..., v4.12)": the form RuleInfo.fix takes. */
export function formatFix(f: Fix): string {
  return `${f.commit} (${f.title}, ${f.version})`;
}

/** The commit id a fix string starts with, if it does. */
export function commitOf(fix: string): string | undefined {
  return /^([0-9a-f]{12,40})\b/.exec(fix)?.[1];
}

/** Reads the `fixes` extra of a capture header; anything malformed is left out. */
export function fixChecksOf(header: Record<string, unknown> | undefined): FixChecks | undefined {
  const v = header?.fixes;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const out: FixChecks = {};
  for (const [k, c] of Object.entries(v as Record<string, unknown>)) {
    const o = c as Partial<FixCheck> | null;
    if (o && typeof o.how === 'string' && (GUARD_STATES as readonly unknown[]).includes(o.state)) out[k] = { state: o.state!, how: o.how };
  }
  return out;
}

/** "guarded by <fix>: yes (how)" */
export function formatGuard(g: Guard): string {
  return `guarded by ${g.fix}: ${g.state} (${g.how})`;
}
