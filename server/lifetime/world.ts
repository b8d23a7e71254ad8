/**
 * The reconstructed state of the traced kernel: every followed object with its phases, the fd
 * tables, and what each task is in the middle of (an epoll_ctl, a readdir, a permission wait...).
 * `apply` moves it forward one event at a time, in kernel-time order, by the effect of the event's
 * kind (its family's effects.ts, through WorldState: the moves public here are theirs). Rules read
 * it; they never change it.
 */
import type { Addr, EpClose, EpRelease, FileRelease, KernelEvent, PermWait, Readdir } from '../model/events.js';
import type { ObjectKind } from '../model/objects.js';
import { FdTables } from './fdtable.js';
import {
  newDentry,
  newEpitem,
  newEpoll,
  newEventfs,
  newFile,
  newMark,
  NO_EPITEMS,
  type DentryData,
  type DentryPhase,
  type EpitemData,
  type EpitemPhase,
  type EpollData,
  type EpollPhase,
  type EventfsData,
  type EventfsPhase,
  type FileData,
  type FilePhase,
  type MarkData,
  type MarkPhase,
} from './kinds.js';
import { effectOf } from './effects.js';
import type { CtlInFlight, WorldState } from './state.js';
import { ObjectTable, type Tombstone, type Tracked } from './table.js';

export interface WorldLimits {
  maxLivePerKind: number;
  maxTombstonesPerKind: number;
}

/**
 * Live objects are bounded by the workload; tombstones (freed addresses remembered to catch a use
 * after free) keep their free event, so they are capped: a use is caught within the last 50k frees
 * of its kind.
 */
export const DEFAULT_LIMITS: WorldLimits = { maxLivePerKind: 500_000, maxTombstonesPerKind: 50_000 };

export type { CtlInFlight } from './state.js';

/** How far up the dentry tree a removal is looked for. */
const MAX_ANCESTRY = 16;

export class World implements WorldState {
  readonly files: ObjectTable<FileData, FilePhase>;
  readonly dentries: ObjectTable<DentryData, DentryPhase>;
  readonly epitems: ObjectTable<EpitemData, EpitemPhase>;
  readonly epolls: ObjectTable<EpollData, EpollPhase>;
  readonly marks: ObjectTable<MarkData, MarkPhase>;
  readonly eventfs: ObjectTable<EventfsData, EventfsPhase>;
  readonly fds = new FdTables();

  /** In flight, by tid unless said otherwise. */
  readonly ctl = new Map<number, CtlInFlight>();
  readonly epRelease = new Map<number, EpRelease>();
  readonly epClose = new Map<number, EpClose>();
  /** __fput in flight, by file address. */
  readonly fput = new Map<Addr, FileRelease>();
  /**
   * __fput in flight whose file's address was already allocated again (file address -> the tid
   * running that __fput): its end belongs to the old generation, already freed at the reallocation.
   */
  readonly fputOfReborn = new Map<Addr, number>();
  /** dcache_readdir in flight: directory dentry -> tid -> entry event. */
  readonly readdir = new Map<Addr, Map<number, Readdir>>();
  readonly permWait = new Map<number, PermWait>();
  /** epfd -> eventpoll, learned from inserts and removes inside epoll_ctl ("pid:epfd"). */
  readonly epByFd = new Map<string, Addr>();

  /** Objects the current event used after they were freed (filled by apply, read by rules). */
  afterFree: Tombstone[] = [];

  constructor(limits: WorldLimits = DEFAULT_LIMITS) {
    const l = { maxLive: limits.maxLivePerKind, maxTombstones: limits.maxTombstonesPerKind };
    // Births seen for every followed address: files (alloc of a freed followed address), epitems,
    // marks, eventfs inodes. Not for dentries (d_alloc is filtered to removed directories, devpts
    // allocates its own) nor eventpoll instances (never probed at birth).
    this.files = new ObjectTable('file', newFile, l, true);
    this.dentries = new ObjectTable('dentry', newDentry, l, false);
    this.epitems = new ObjectTable('epitem', newEpitem, l, true);
    this.epolls = new ObjectTable('epoll', newEpoll, l, false);
    this.marks = new ObjectTable('mark', newMark, l, true);
    this.eventfs = new ObjectTable('eventfs', newEventfs, l, true);
  }

  tables(): ObjectTable<unknown>[] {
    return [this.files, this.dentries, this.epitems, this.epolls, this.marks, this.eventfs] as ObjectTable<unknown>[];
  }

  table(kind: ObjectKind): ObjectTable<unknown> {
    return this.tables().find((t) => t.kind === kind)!;
  }

  /** Moves the World forward by one event: its family's effect (server/families/<family>/effects.ts). */
  apply(ev: KernelEvent): void {
    if (this.afterFree.length > 0) this.afterFree = [];
    const effect = effectOf(ev.kind);
    if (effect === undefined) throw new Error(`unhandled event ${ev.kind}`);
    effect(this, ev);
  }

  /** The nearest removal event on `dentry` or its known ancestors. */
  removalAbove(dentry: Addr | undefined): KernelEvent | undefined {
    for (let i = 0; dentry !== undefined && i < MAX_ANCESTRY; i++) {
      const d = this.dentries.get(dentry);
      if (d === undefined) return undefined;
      if (d.data.removed !== undefined) return d.data.removed;
      dentry = d.data.parent;
    }
    return undefined;
  }

  /** The file at `addr` if alive (or never seen); records a use after free otherwise. */
  useFile(addr: Addr, ev: KernelEvent): Tracked<FileData, FilePhase> | undefined {
    return this.use(this.files, addr, ev);
  }

  useDentry(addr: Addr, ev: KernelEvent, parent?: Addr, name?: string): Tracked<DentryData, DentryPhase> | undefined {
    if (addr === '0') return undefined;
    const d = this.use(this.dentries, addr, ev);
    if (d) {
      if (parent !== undefined && parent !== '0') d.data.parent = parent;
      if (name !== undefined) d.data.name = name;
    }
    return d;
  }

  use<D, P extends string>(table: ObjectTable<D, P>, addr: Addr, ev: KernelEvent): Tracked<D, P> | undefined {
    const o = table.use(addr, ev, 'live');
    if (o === undefined) this.noteAfterFree(table.tombstone(addr)!);
    return o;
  }

  noteAfterFree(t: Tombstone): void {
    this.afterFree.push(t);
  }

  noteCtlTarget(tid: number, pid: number, ep: Addr, file: Addr): void {
    const c = this.ctl.get(tid);
    if (c === undefined) return;
    c.ep = ep;
    c.file ??= file;
    this.epByFd.set(`${pid}:${c.ev.epfd}`, ep);
  }

  /**
   * A file's end. Epitems still on it were unlinked by eventpoll_release_file() in its __fput
   * (f_ep was set), whether or not that was printed.
   */
  freeFile(f: Tracked<FileData, FilePhase>, ev: KernelEvent): void {
    if (f.data.epitems.size > 0) for (const epi of [...f.data.epitems]) this.dropEpitem(epi, ev, f.addr);
    this.files.free(f, ev);
  }

  dropEpitem(addr: Addr, ev: KernelEvent, of?: Addr): void {
    const epi = this.epitems.get(addr);
    // `of`: only an epitem of that file (its address may already be another file's epitem).
    if (epi === undefined || (of !== undefined && epi.data.file !== of)) return;
    const watched = this.files.get(epi.data.file)?.data.epitems;
    if (watched !== undefined && watched !== NO_EPITEMS) (watched as Set<Addr>).delete(addr);
    this.epolls.get(epi.data.ep)?.data.items.delete(addr);
    this.epitems.free(epi, ev);
  }
}
