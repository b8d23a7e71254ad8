/** The epoll family's events: epoll_ctl, epitems, epoll instances and the polls of their targets. */
import type { Addr, EventShape as E } from '../../model/event-shape.js';

/** The record tags this family's probes print (probes/README.md), decoded into the events below. */
export const EPOLL_TAGS = ['ctl', 'ctl_r', 'ins', 'rm', 'rel', 'rel_r', 'epc', 'epc_r', 'poll', 'poll_r', 'tpoll'] as const;

export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLL_CTL_MOD = 3;

export function opName(op: number): string {
  return op === EPOLL_CTL_ADD ? 'ADD' : op === EPOLL_CTL_DEL ? 'DEL' : op === EPOLL_CTL_MOD ? 'MOD' : `op${op}`;
}

export type EpCtl = E<'ep.ctl', { epfd: number; op: number; fd: number }>;
export type EpCtlDone = E<'ep.ctl.done', { epfd: number; op: number; fd: number; ret: number }>;
export type EpInsert = E<'ep.insert', { ep: Addr; epi: Addr; file: Addr; fd: number }>;
export type EpRemove = E<'ep.remove', { ep: Addr; epi: Addr; file: Addr; fd: number }>;
export type EpRelease = E<'ep.release', { file: Addr }>;
export type EpReleaseDone = E<'ep.release.done', { file: Addr }>;
export type EpClose = E<'ep.close', { ep: Addr; file: Addr }>;
export type EpCloseDone = E<'ep.close.done', { ep: Addr; file: Addr }>;
/** The target's ->poll called by epoll; `count` is the file's reference count at entry. */
export type EpPoll = E<'ep.poll', { epi: Addr; file: Addr; count: number }>;
/**
 * The end of a watched ep_item_poll() (one whose file's count was at or below zero, or dying, at
 * entry): whether the file's ->poll() (`pollFn`) was seen entered in between, and whether it is a
 * function lifetrace probes at all (if not, not seeing it proves nothing).
 */
export type EpPollDone = E<'ep.poll.done', { epi: Addr; file: Addr; polled: boolean; probed: boolean; ret: number; pollFn: string }>;
/**
 * A target's ->poll() (`pollFn`) entered on a file registered in epoll, with its count at entry:
 * printed when a watched ep_item_poll() polls it (`inside`), or whenever the count is at or below
 * zero.
 */
export type TargetPoll = E<'target.poll', { file: Addr; count: number; inside: boolean; pollFn: string }>;

export type EpollEvent =
  | EpCtl
  | EpCtlDone
  | EpInsert
  | EpRemove
  | EpRelease
  | EpReleaseDone
  | EpClose
  | EpCloseDone
  | EpPoll
  | EpPollDone
  | TargetPoll;
