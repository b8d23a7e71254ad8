/** What lifetrace remembers about each kind of object, beyond its identity and phases. */
import type { Addr, DentryPut, EpInsert, FileLastRef, FileRelease, KernelEvent } from '../model/events.js';

/**
 * Each kind's phases besides 'live' (born, or first seen already alive) and 'freed' (lifetime/table.ts),
 * in the order an object usually goes through them.
 */
export type FilePhase = 'last-ref' | 'releasing';
export type EpitemPhase = 'registered';
export type EpollPhase = 'closing';
export type DentryPhase = 'negative' | 'unhashed' | 'removed' | 'unused';
export type MarkPhase = 'attached' | 'detached' | 'destroyed' | 'dead' | 'last-ref';
export type EventfsPhase = 'removed';

export interface FileData {
  dentry: Addr | undefined;
  /** fput() that dropped the last reference. */
  lastRef: FileLastRef | undefined;
  /** __fput entry: the file is being torn down. */
  release: FileRelease | undefined;
  /** Epitems (addresses) currently watching this file: NO_EPITEMS until the first (most files never have one). */
  epitems: ReadonlySet<Addr>;
}

/** Shared by every file no epitem watches: never added to (see World's addEpitem). */
export const NO_EPITEMS: ReadonlySet<Addr> = new Set();

export interface EpitemData {
  ep: Addr;
  file: Addr;
  fd: number;
  insert: EpInsert | undefined;
}

export interface EpollData {
  items: Set<Addr>;
  file: Addr | undefined;
}

export interface DentryData {
  parent: Addr | undefined;
  name: string | undefined;
  /** The removal (of this dentry or found on an ancestor) that makes later uses suspicious. */
  removed: KernelEvent | undefined;
  /** dput that dropped the count to zero after removal. */
  zero: DentryPut | undefined;
}

export interface MarkData {
  group: Addr | undefined;
}

export interface EventfsData {
  name: string | undefined;
  removed: KernelEvent | undefined;
  /** Its directory's dentry, learned from lookups in it. */
  dir: Addr | undefined;
}

export const newFile = (): FileData => ({ dentry: undefined, lastRef: undefined, release: undefined, epitems: NO_EPITEMS });
export const newEpitem = (): EpitemData => ({ ep: '' as Addr, file: '' as Addr, fd: -1, insert: undefined });
export const newEpoll = (): EpollData => ({ items: new Set(), file: undefined });
export const newDentry = (): DentryData => ({ parent: undefined, name: undefined, removed: undefined, zero: undefined });
export const newMark = (): MarkData => ({ group: undefined });
export const newEventfs = (): EventfsData => ({ name: undefined, removed: undefined, dir: undefined });
