/**
 * Kernel-level guard decisions: does the traced kernel carry each historical fix? Decided once per
 * capture from that kernel's own facts (kallsyms, ftrace's function list, BTF), recorded in the
 * capture header's `fixes` (commit id -> {state, how}) so that analyze, live and replay judge flags
 * alike. Never from a version number: distributions backport, and a build can leave a fix out.
 * Functions a fix added or removed are the evidence; a static function can also be inlined, so an
 * absent one proves nothing unless another fact says the code is there.
 */
import type { FIXES, FixCheck, FixChecks } from '../model/fixes.js';
import type { KernelFacts } from './facts.js';

/** Does the kernel have `fn` out of line (kallsyms, ftrace) or in its BTF? */
export function hasFunction(facts: KernelFacts, fn: string): boolean {
  return facts.symbols.has(fn) || (facts.ftrace?.has(fn) ?? false) || facts.btf?.params(fn) !== undefined;
}

/** Where a present function was seen, for the `how`. */
function seenIn(facts: KernelFacts, fn: string): string {
  const where = [
    facts.symbols.has(fn) && 'kallsyms',
    facts.ftrace?.has(fn) && 'ftrace',
    facts.btf?.params(fn) !== undefined && 'BTF',
  ].filter(Boolean);
  return `${fn}() is in this kernel's ${where.join(', ')}`;
}

/** No symbol table at all: nothing can be decided from symbols. */
function blind(facts: KernelFacts): boolean {
  return facts.symbols.size === 0 && facts.ftrace === undefined && facts.btf === undefined;
}

const UNREADABLE: FixCheck = { state: 'unknown', how: 'kallsyms, ftrace functions and BTF unreadable on this kernel' };

function fsnotify(facts: KernelFacts): FixCheck {
  if (blind(facts)) return UNREADABLE;
  // abc77577a669's series added fsnotify_prepare_user_wait()/fsnotify_finish_user_wait() (global,
  // called from fanotify.c, so never inlined away): with them a permission wait pins its marks by
  // refcount and leaves fsnotify_mark_srcu.
  if (hasFunction(facts, 'fsnotify_prepare_user_wait')) {
    return {
      state: 'yes',
      how: `${seenIn(facts, 'fsnotify_prepare_user_wait')}: a permission wait pins its marks and drops the SRCU lock`,
    };
  }
  if (hasFunction(facts, 'fsnotify_add_mark_locked')) {
    return {
      state: 'no',
      how: 'fsnotify_prepare_user_wait() is not in this kernel though fsnotify_add_mark_locked() is: permission waits hold fsnotify_mark_srcu',
    };
  }
  return {
    state: 'unknown',
    how: 'neither fsnotify_prepare_user_wait() nor fsnotify_add_mark_locked() found: fsnotify marks not traceable here',
  };
}

function dcacheReaddir(facts: KernelFacts): FixCheck {
  if (blind(facts)) return UNREADABLE;
  // d4f4de5e5ef8 replaced next_positive() (which walked d_subdirs without d_lock) with
  // scan_positives(), which walks under the parent's d_lock and pins what it returns. Both are
  // static: either may be inlined into dcache_readdir(), so only a present one decides.
  if (hasFunction(facts, 'scan_positives'))
    return { state: 'yes', how: `${seenIn(facts, 'scan_positives')}: the fix added it; it walks the children under d_lock` };
  if (hasFunction(facts, 'next_positive'))
    return { state: 'no', how: `${seenIn(facts, 'next_positive')}: the lockless walk the fix removed` };
  return {
    state: 'unknown',
    how: 'neither scan_positives() nor next_positive() is out of line in this kernel: both are static and may be inlined',
  };
}

function eventfs(facts: KernelFacts): FixCheck {
  if (blind(facts)) return UNREADABLE;
  // 43aa6f97c2d0 made eventfs dentries refcounted through ->d_release (eventfs_d_release());
  // 8dce06e98c70 in the same series added tracefs_d_revalidate(), which fails for a freed ei.
  const release = hasFunction(facts, 'eventfs_d_release');
  const revalidate = hasFunction(facts, 'tracefs_d_revalidate');
  if (release)
    return {
      state: 'yes',
      how: `${seenIn(facts, 'eventfs_d_release')}${revalidate ? ', and so is tracefs_d_revalidate(), which fails the lookup of a freed eventfs dir' : ''}`,
    };
  if (hasFunction(facts, 'eventfs_create_dir')) {
    return {
      state: 'no',
      how: 'eventfs is in this kernel, eventfs_create_dir() found, but eventfs_d_release() is not: eventfs dentries are held without refcounts',
    };
  }
  return {
    state: 'unknown',
    how: 'no eventfs in this kernel, eventfs_create_dir() absent: the fix does not apply; uses after a removal are judged per filesystem',
  };
}

const CHECKS: Record<keyof typeof FIXES, (facts: KernelFacts) => FixCheck> = {
  abc77577a669: fsnotify,
  d4f4de5e5ef8: dcacheReaddir,
  '43aa6f97c2d0': eventfs,
};

/** Every fix lifetrace can check on a kernel, decided from its facts. */
export function checkFixes(facts: KernelFacts): FixChecks {
  const out: FixChecks = {};
  for (const [commit, check] of Object.entries(CHECKS)) out[commit] = check(facts);
  return out;
}
