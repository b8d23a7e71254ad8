/**
 * What the probe scripts must know about the traced kernel, decided from its BTF. The scripts in
 * probes/ hold ${...} placeholders for exactly these differences.
 */
import type { Btf } from './btf.js';

export interface KernelProfile {
  /** struct file refcount: `f_count` (atomic_long, 0 = dead) up to 6.12; `f_ref` (file_ref_t, refs - 1) from 6.13. */
  fileRefs: 'f_count' | 'f_ref';
  /** The function whose entry means "this epitem is being removed", and which argument is the epitem. */
  epRemove: { fn: string; epiArg: number };
  /** ep_item_poll is static and usually exists only as a clone: a wildcard matches it. */
  epItemPoll: string;
}

/** A profile for kernels we cannot inspect (Debian's 6.1 is the reference). */
export const DEFAULT_PROFILE: KernelProfile = {
  fileRefs: 'f_count',
  epRemove: { fn: 'ep_remove', epiArg: 1 },
  epItemPoll: 'ep_item_poll*',
};

export function profileFromBtf(btf: Btf): KernelProfile {
  const fileRefs = btf.hasField('file', 'f_ref.refcnt.counter') ? 'f_ref' : 'f_count';
  let epRemove = DEFAULT_PROFILE.epRemove;
  for (const fn of ['ep_remove', '__ep_remove', 'ep_remove_epi']) {
    const i = btf.params(fn)?.indexOf('epi') ?? -1;
    if (i >= 0) {
      epRemove = { fn, epiArg: i };
      break;
    }
  }
  return { fileRefs, epRemove, epItemPoll: DEFAULT_PROFILE.epItemPoll };
}
