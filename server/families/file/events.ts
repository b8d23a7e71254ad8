/** The file family's events: struct file lifetimes and per-process fd tables. */
import type { Addr, EventShape as E, NoFields } from '../../model/event-shape.js';

/** The record tags this family's probes print (probes/README.md), decoded into the events below. */
export const FILE_TAGS = [
  'alloc',
  'open',
  'fdi',
  'fdc',
  'fdc_r',
  'dupc',
  'dupc_r',
  'dupi',
  'fdcr',
  'cloexec',
  'last',
  'fput',
  'fput_r',
  'fork',
  'exit',
] as const;

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
/** close_range(2) closed fds first..last (inclusive) of the process. */
export type FdCloseRange = E<'fd.close.range', { first: number; last: number }>;
/** execve closes the process's close-on-exec fds (those below 256). */
export type FdCloseExec = E<'fd.cloexec', { fds: number[] }>;
/** fput() that drops the count to zero: the window before __fput starts here. */
export type FileLastRef = E<'file.lastref', { file: Addr }>;
export type FileRelease = E<'file.release', { file: Addr; count: number; hasEp: boolean; dentry: Addr }>;
export type FileFreed = E<'file.freed', { file: Addr }>;
export type TaskFork = E<'task.fork', { child: number }>;
export type TaskExit = E<'task.exit', NoFields>;

export type FileEvent =
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
  | TaskExit;
