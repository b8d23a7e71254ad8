/**
 * The one event model every probe family decodes into. Each event is a discriminated union member
 * keyed by `kind`; `fn` names the kernel function (or tracepoint) the record came from, which is
 * what evidence shows a kernel developer.
 */
import type { Nanos } from './time.js';

/** A kernel address as bpftrace prints it with %lx: lower-case hex, no 0x prefix. */
export type Addr = string & { readonly __addr: unique symbol };

export const FAMILIES = ['file', 'epoll', 'dcache', 'fsnotify', 'tracefs', 'syscalls'] as const;
/** What lifetrace loads by default on a kernel with kprobes; 'syscalls' is the fallback without. */
export const KPROBE_FAMILIES = ['file', 'epoll', 'dcache', 'fsnotify', 'tracefs'] as const satisfies readonly Family[];
export type Family = (typeof FAMILIES)[number];

/**
 * A kernel stack as bpftrace's kstack symbolized it: `function+offset` frames, innermost first (the
 * probed function itself, or the tracepoint's caller, comes first); no frames when the kernel could
 * not give it. `atReturn`: taken at a kretprobe, after the probed function returned. Shared by the
 * events with the same stack: never modify one.
 */
export interface KernelStack {
  readonly frames: readonly string[];
  readonly atReturn: boolean;
}

/** Who and where: every record carries these (`stack` only the records of a capture that has stacks). */
export interface Origin {
  /** Kernel time relative to the capture's TimeBase. */
  t: Nanos;
  cpu: number;
  /** Thread-group id (the process). */
  pid: number;
  tid: number;
  comm: string;
  /** Line number in the capture: provenance, and the tie-break at equal times. */
  line: number;
  /**
   * The kernel stack when the record was printed (captures of the kprobe families since stacks
   * were added; empty when the kernel could not give it). A record printed at a kretprobe has the
   * stack at the return, even when its fields were saved at entry.
   */
  stack?: KernelStack;
}

export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLL_CTL_MOD = 3;

type NoFields = Record<never, never>;
type E<K extends string, F> = Origin & { kind: K; fn: string } & F;

// --- file family: struct file lifetimes and per-process fd tables
export type FileAlloc = E<'file.alloc', { file: Addr }>;
export type FileOpen = E<'file.open', { file: Addr; dentry: Addr; parent: Addr }>;
export type FdInstall = E<'fd.install', { fd: number; file: Addr }>;
export type FdClose = E<'fd.close', { fd: number }>;
/**
 * A close of `fd` (close(2), or dup2/dup3 over it) is over: `count` is the reference count `file`
 * was left with. Above zero it outlived the close (other references); zero, the close dropped the
 * last one.
 */
export type FdClosed = E<'fd.closed', { fd: number; file: Addr; count: number }>;
/** fput() that drops the count to zero: the window before __fput starts here. */
/** close_range(2) closed fds first..last (inclusive) of the process. */
export type FdCloseRange = E<'fd.close.range', { first: number; last: number }>;
/** execve closes the process's close-on-exec fds (those below 256). */
export type FdCloseExec = E<'fd.cloexec', { fds: number[] }>;
export type FileLastRef = E<'file.lastref', { file: Addr }>;
export type FileRelease = E<'file.release', { file: Addr; count: number; hasEp: boolean; dentry: Addr }>;
export type FileFreed = E<'file.freed', { file: Addr }>;
export type TaskFork = E<'task.fork', { child: number }>;
export type TaskExit = E<'task.exit', NoFields>;

// --- epoll family
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

// --- dcache family
export type DentryAlloc = E<'dentry.alloc', { dentry: Addr; parent: Addr; name: string }>;
export type DentryDelete = E<'dentry.delete', { dentry: Addr; parent: Addr; count: number; name: string }>;
export type DentryKill = E<'dentry.kill', { dentry: Addr; parent: Addr; count: number }>;
export type DentryPtyKill = E<'dentry.ptykill', { dentry: Addr; parent: Addr }>;
export type DentryInvalidate = E<'dentry.invalidate', { dentry: Addr; parent: Addr }>;
export type DentryRemoveTree = E<'dentry.rmtree', { dentry: Addr; parent: Addr }>;
/** dput() on a dentry of interest; `count` is d_lockref.count before the put. */
export type DentryPut = E<'dentry.put', { dentry: Addr; parent: Addr; count: number }>;
export type Readdir = E<'readdir', { dir: Addr; file: Addr }>;
export type ReaddirDone = E<'readdir.done', { dir: Addr }>;

// --- fsnotify family
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

// --- tracefs family (eventfs since 6.6)
export type EventfsCreate = E<'eventfs.create', { ei: Addr; name: string }>;
export type EventfsRemove = E<'eventfs.remove', { ei: Addr; name: string }>;
export type EventfsLookup = E<'eventfs.lookup', { ei: Addr; dir: Addr; name: string }>;
/** tracing_open_file_tr(): an open of a tracefs event file; `ei` is its directory's eventfs inode. */
export type EventfsOpen = E<'eventfs.open', { ei: Addr; dentry: Addr; file: Addr }>;
export type TracefsRemove = E<'tracefs.remove', { dentry: Addr; parent: Addr }>;

/** bpftrace reported events dropped from its per-CPU buffers. */
export type Lost = E<'lost', { count: number }>;

export type KernelEvent =
  | FileAlloc
  | FileOpen
  | FdInstall
  | FdClose
  | FdClosed
  | FdCloseRange
  | FdCloseExec
  | FileLastRef
  | FileRelease
  | FileFreed
  | TaskFork
  | TaskExit
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
  | TargetPoll
  | DentryAlloc
  | DentryDelete
  | DentryKill
  | DentryPtyKill
  | DentryInvalidate
  | DentryRemoveTree
  | DentryPut
  | Readdir
  | ReaddirDone
  | MarkAdd
  | MarkDetach
  | MarkDestroy
  | MarkFree
  | MarkGone
  | MarkPut
  | PermWait
  | PermWaitDone
  | EventfsCreate
  | EventfsRemove
  | EventfsLookup
  | EventfsOpen
  | TracefsRemove;

// --- syscalls family (the fallback without kprobes): fd-level records, turned into the events
// above by an fd-table model once they are in time order (decode/fd-model.ts).
export type ScCtl = E<'sc.ctl', { epfd: number; op: number; fd: number }>;
export type ScCtlDone = E<'sc.ctl.done', { epfd: number; op: number; fd: number; ret: number }>;
export type ScNew = E<'sc.new', { fd: number }>;
export type ScPipe = E<'sc.pipe', { fd0: number; fd1: number }>;
export type ScDup = E<'sc.dup', { oldfd: number; fd: number }>;
export type ScClose = E<'sc.close', { fd: number }>;
export type ScFork = E<'sc.fork', { child: number }>;
export type ScExit = E<'sc.exit', NoFields>;
export type SyscallEvent = ScCtl | ScCtlDone | ScNew | ScPipe | ScDup | ScClose | ScFork | ScExit;

/** What the decoders produce: kernel events, and fd-level records still to be modelled. */
export type RecordEvent = KernelEvent | SyscallEvent;

export function isSyscallEvent(ev: RecordEvent): ev is SyscallEvent {
  return ev.kind.charCodeAt(0) === 115 /* s */ && ev.kind.charCodeAt(1) === 99 /* c */ && ev.kind.charCodeAt(2) === 46 /* . */;
}

export type EventKind = KernelEvent['kind'];
export type EventOf<K extends EventKind> = Extract<KernelEvent, { kind: K }>;

export function opName(op: number): string {
  return op === EPOLL_CTL_ADD ? 'ADD' : op === EPOLL_CTL_DEL ? 'DEL' : op === EPOLL_CTL_MOD ? 'MOD' : `op${op}`;
}
