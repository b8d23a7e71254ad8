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
  /**
   * The targets' ->poll() implementations probed on this kernel (probes/epoll.bt has a block for
   * each of POLL_TARGETS; those a kernel cannot attach are left out, and so are they here).
   */
  pollTargets: string[];
}

/**
 * The ->poll() implementations epoll.bt probes, each `fn(struct file *, poll_table *)`. Not
 * ep_eventpoll_poll: ep_item_poll() polls a nested epoll file through __ep_eventpoll_poll().
 */
export const POLL_TARGETS = ['pipe_poll', 'sock_poll', 'eventfd_poll', 'timerfd_poll', 'signalfd_poll'] as const;

/** A profile for kernels we cannot inspect (Debian's 6.1 is the reference). */
export const DEFAULT_PROFILE: KernelProfile = {
  fileRefs: 'f_count',
  epRemove: { fn: 'ep_remove', epiArg: 1 },
  epItemPoll: 'ep_item_poll*',
  // Unknown without the kernel's symbols: no ->poll() counts as probed (flags say "cannot tell").
  pollTargets: [],
};

/**
 * The epitem removal to probe, most specific first: ep_remove_epi (2026 stable series) is the one
 * path every removal takes (EPOLL_CTL_DEL, the final __fput, the epoll instance closing);
 * __ep_remove (6.4-6.12 tags) likewise; ep_remove (6.1 tag) is missed by eventpoll_release_file
 * on kernels that have the others.
 */
const EP_REMOVERS = ['ep_remove_epi', '__ep_remove', 'ep_remove'];

export function profileFromBtf(btf: Btf, attachable?: (fn: string) => boolean): KernelProfile {
  const fileRefs = btf.hasField('file', 'f_ref.refcnt.counter') ? 'f_ref' : 'f_count';
  let epRemove = DEFAULT_PROFILE.epRemove;
  for (const fn of EP_REMOVERS) {
    const i = btf.params(fn)?.indexOf('epi') ?? -1;
    if (i >= 0 && (attachable?.(fn) ?? true)) {
      epRemove = { fn, epiArg: i };
      break;
    }
  }
  const pollTargets = POLL_TARGETS.filter((fn) => attachable?.(fn) ?? btf.params(fn) !== undefined);
  return { fileRefs, epRemove, epItemPoll: DEFAULT_PROFILE.epItemPoll, pollTargets };
}
