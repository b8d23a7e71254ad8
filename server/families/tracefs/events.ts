/** The tracefs family's events (eventfs since 6.6): eventfs directories, and opens below them. */
import type { Addr, EventShape as E } from '../../model/event-shape.js';

/** The record tags this family's probes print (probes/README.md), decoded into the events below. */
export const TRACEFS_TAGS = ['efs_new', 'efs_rm', 'efs_lookup', 'efs_open', 'tfs_rm'] as const;

export type EventfsCreate = E<'eventfs.create', { ei: Addr; name: string }>;
export type EventfsRemove = E<'eventfs.remove', { ei: Addr; name: string }>;
export type EventfsLookup = E<'eventfs.lookup', { ei: Addr; dir: Addr; name: string }>;
/** tracing_open_file_tr(): an open of a tracefs event file; `ei` is its directory's eventfs inode. */
export type EventfsOpen = E<'eventfs.open', { ei: Addr; dentry: Addr; file: Addr }>;
export type TracefsRemove = E<'tracefs.remove', { dentry: Addr; parent: Addr }>;

export type TracefsEvent = EventfsCreate | EventfsRemove | EventfsLookup | EventfsOpen | TracefsRemove;
