/** The dcache family's events: dentries under removal, and dcache_readdir() walks. */
import type { Addr, EventShape as E } from '../../model/event-shape.js';

/** The record tags this family's probes print (probes/README.md), decoded into the events below. */
export const DCACHE_TAGS = ['d_alloc', 'd_del', 'd_kill', 'pty_kill', 'd_inval', 'rrm', 'dput', 'rd', 'rd_r'] as const;

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

export type DcacheEvent =
  | DentryAlloc
  | DentryDelete
  | DentryKill
  | DentryPtyKill
  | DentryInvalidate
  | DentryRemoveTree
  | DentryPut
  | Readdir
  | ReaddirDone;
