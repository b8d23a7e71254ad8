/**
 * What a family's lifetime effects (server/families/<family>/effects.ts) may read and change of the
 * World: its object tables, fd tables and in-flight maps, and the few moves shared by families (a use
 * that may be a use after free, a file's end, an epitem's unlinking). The World implements it; the
 * effects import this interface, never world.ts, so the World can dispatch to them without a cycle.
 */
import type { Addr, EpClose, EpCtl, EpRelease, FileRelease, KernelEvent, PermWait, Readdir } from '../model/events.js';
import type { PerKind } from '../model/event-shape.js';
import type { FdTables } from './fdtable.js';
import type {
  DentryData,
  DentryPhase,
  EpitemData,
  EpitemPhase,
  EpollData,
  EpollPhase,
  EventfsData,
  EventfsPhase,
  FileData,
  FilePhase,
  MarkData,
  MarkPhase,
} from './kinds.js';
import type { ObjectTable, Tombstone, Tracked } from './table.js';

/** An epoll_ctl in flight in one task, with what it was found to touch. */
export interface CtlInFlight {
  ev: EpCtl;
  /** The epoll instance (struct eventpoll) behind epfd, once known. */
  ep: Addr | undefined;
  /** The target file, once known (fd table, or the insert/remove inside the call). */
  file: Addr | undefined;
}

export interface WorldState {
  readonly files: ObjectTable<FileData, FilePhase>;
  readonly dentries: ObjectTable<DentryData, DentryPhase>;
  readonly epitems: ObjectTable<EpitemData, EpitemPhase>;
  readonly epolls: ObjectTable<EpollData, EpollPhase>;
  readonly marks: ObjectTable<MarkData, MarkPhase>;
  readonly eventfs: ObjectTable<EventfsData, EventfsPhase>;
  readonly fds: FdTables;

  /** In flight, by tid unless said otherwise. */
  readonly ctl: Map<number, CtlInFlight>;
  readonly epRelease: Map<number, EpRelease>;
  readonly epClose: Map<number, EpClose>;
  /** __fput in flight, by file address. */
  readonly fput: Map<Addr, FileRelease>;
  /**
   * __fput in flight whose file's address was already allocated again (file address -> the tid
   * running that __fput): its end belongs to the old generation, already freed at the reallocation.
   */
  readonly fputOfReborn: Map<Addr, number>;
  /** dcache_readdir in flight: directory dentry -> tid -> entry event. */
  readonly readdir: Map<Addr, Map<number, Readdir>>;
  readonly permWait: Map<number, PermWait>;
  /** epfd -> eventpoll, learned from inserts and removes inside epoll_ctl ("pid:epfd"). */
  readonly epByFd: Map<string, Addr>;

  /** The nearest removal event on `dentry` or its known ancestors. */
  removalAbove(dentry: Addr | undefined): KernelEvent | undefined;
  /** The object at `addr` if alive (or never seen); records a use after free otherwise. */
  use<D, P extends string>(table: ObjectTable<D, P>, addr: Addr, ev: KernelEvent): Tracked<D, P> | undefined;
  useFile(addr: Addr, ev: KernelEvent): Tracked<FileData, FilePhase> | undefined;
  /** As `use`, for a dentry (none at address 0), learning its parent and name when given. */
  useDentry(addr: Addr, ev: KernelEvent, parent?: Addr, name?: string): Tracked<DentryData, DentryPhase> | undefined;
  noteAfterFree(t: Tombstone): void;
  /** The epoll_ctl in flight in `tid` touched epoll instance `ep` and `file`. */
  noteCtlTarget(tid: number, pid: number, ep: Addr, file: Addr): void;
  /** A file's end, with the epitems still on it (eventpoll_release_file() unlinked them). */
  freeFile(f: Tracked<FileData, FilePhase>, ev: KernelEvent): void;
  /** The epitem at `addr` is unlinked from its file and its epoll instance, and freed (`of`: only if it is that file's). */
  dropEpitem(addr: Addr, ev: KernelEvent, of?: Addr): void;
}

/** A family's part of World.apply: what each of its event kinds does to the World. */
export type Effects<U extends { kind: string }> = PerKind<U, [WorldState], void>;
