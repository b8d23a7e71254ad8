/**
 * The probe families lifetrace knows, and the record tags of each. Browser-safe (no node: imports,
 * nothing but data).
 */
import { DCACHE_TAGS } from './dcache/events.js';
import { EPOLL_TAGS } from './epoll/events.js';
import { FILE_TAGS } from './file/events.js';
import { FSNOTIFY_TAGS } from './fsnotify/events.js';
import { SYSCALLS_TAGS } from './syscalls/events.js';
import { TRACEFS_TAGS } from './tracefs/events.js';
import type { Family } from '../shared/kinds.js';

/** The families (shared/kinds.ts, where the dashboard reads them too). */
export { FAMILIES, type Family } from '../shared/kinds.js';
/** What lifetrace loads by default on a kernel with kprobes; 'syscalls' is the fallback without. */
export const KPROBE_FAMILIES = ['file', 'epoll', 'dcache', 'fsnotify', 'tracefs'] as const satisfies readonly Family[];

/** Each family's record tags (probes/README.md): what a rule's `needs` names. */
export const RECORD_TAGS = {
  file: FILE_TAGS,
  epoll: EPOLL_TAGS,
  dcache: DCACHE_TAGS,
  fsnotify: FSNOTIFY_TAGS,
  tracefs: TRACEFS_TAGS,
  syscalls: SYSCALLS_TAGS,
} as const satisfies Record<Family, readonly string[]>;
export type RecordTag = (typeof RECORD_TAGS)[Family][number];
