/** The fsnotify family's events: marks, and permission events waiting on user space. */
import type { Addr, EventShape as E } from '../../model/event-shape.js';

/** The record tags this family's probes print (probes/README.md), decoded into the events below. */
export const FSNOTIFY_TAGS = ['m_add', 'm_detach', 'm_destroy', 'm_free', 'm_gone', 'm_put', 'pw', 'pw_r', 'pw_x'] as const;

export type MarkAdd = E<'mark.add', { mark: Addr; group: Addr }>;
export type MarkDetach = E<'mark.detach', { mark: Addr }>;
export type MarkDestroy = E<'mark.destroy', { mark: Addr }>;
export type MarkFree = E<'mark.free', { mark: Addr }>;
/** The group's ->free_mark(): the mark's memory is freed (after the SRCU period). */
export type MarkGone = E<'mark.gone', { mark: Addr }>;
/** fsnotify_put_mark(); `count` is the reference count read at its entry (racy: a get may follow). */
export type MarkPut = E<'mark.put', { mark: Addr; count: number }>;
/** fsnotify_prepare_user_wait(): the marks of `iter` are pinned while user space decides. */
export type PermWait = E<'perm.wait', { iter: Addr; marks: Addr[] }>;
export type PermWaitDone = E<'perm.wait.done', { iter: Addr }>;

export type FsnotifyEvent = MarkAdd | MarkDetach | MarkDestroy | MarkFree | MarkGone | MarkPut | PermWait | PermWaitDone;
