/**
 * The one event model every probe family decodes into. Each event is a discriminated union member
 * keyed by `kind`; `fn` names the kernel function (or tracepoint) the record came from, which is
 * what evidence shows a kernel developer. Each family defines its own events in
 * server/families/<family>/events.ts; this module joins them (and re-exports them, so the rest of
 * the server imports events from one place).
 */
import type { DcacheEvent } from '../families/dcache/events.js';
import type { EpollEvent } from '../families/epoll/events.js';
import type { FileEvent } from '../families/file/events.js';
import type { FsnotifyEvent } from '../families/fsnotify/events.js';
import type { SyscallEvent } from '../families/syscalls/events.js';
import type { TracefsEvent } from '../families/tracefs/events.js';

export type { Addr, KernelStack, Origin } from './event-shape.js';
export { FAMILIES, KPROBE_FAMILIES, type Family } from '../families/catalog.js';
export * from '../families/file/events.js';
export * from '../families/epoll/events.js';
export * from '../families/dcache/events.js';
export * from '../families/fsnotify/events.js';
export * from '../families/tracefs/events.js';
export * from '../families/syscalls/events.js';

export type KernelEvent = FileEvent | EpollEvent | DcacheEvent | FsnotifyEvent | TracefsEvent;

/** What the decoders produce: kernel events, and fd-level records still to be modelled. */
export type RecordEvent = KernelEvent | SyscallEvent;

export function isSyscallEvent(ev: RecordEvent): ev is SyscallEvent {
  return ev.kind.charCodeAt(0) === 115 /* s */ && ev.kind.charCodeAt(1) === 99 /* c */ && ev.kind.charCodeAt(2) === 46 /* . */;
}

export type EventKind = KernelEvent['kind'];
export type EventOf<K extends EventKind> = Extract<KernelEvent, { kind: K }>;
