/**
 * The syscalls family's records (the fallback without kprobes): fd-level records, turned into the
 * file and epoll families' events by an fd-table model once they are in time order
 * (lifetime/fdtable.ts's FdModel). They never reach the World nor the rules themselves.
 */
import type { EventShape as E, NoFields } from '../../model/event-shape.js';

/** The record tags this family's probes print (probes/README.md), decoded into the events below. */
export const SYSCALLS_TAGS = ['sc_ctl', 'sc_ctl_r', 'sc_new', 'sc_pipe', 'sc_dup', 'sc_close', 'sc_fork', 'sc_exit'] as const;

export type ScCtl = E<'sc.ctl', { epfd: number; op: number; fd: number }>;
export type ScCtlDone = E<'sc.ctl.done', { epfd: number; op: number; fd: number; ret: number }>;
export type ScNew = E<'sc.new', { fd: number }>;
export type ScPipe = E<'sc.pipe', { fd0: number; fd1: number }>;
export type ScDup = E<'sc.dup', { oldfd: number; fd: number }>;
export type ScClose = E<'sc.close', { fd: number }>;
export type ScFork = E<'sc.fork', { child: number }>;
export type ScExit = E<'sc.exit', NoFields>;

export type SyscallEvent = ScCtl | ScCtlDone | ScNew | ScPipe | ScDup | ScClose | ScFork | ScExit;
