/**
 * The reconstructed state of the traced kernel: every followed object with its phases, the fd
 * tables, and what each task is in the middle of (an epoll_ctl, a readdir, a permission wait...).
 * `apply` moves it forward one event at a time, in kernel-time order. Rules read it; they never
 * change it.
 */
import type { Addr, EpCtl, EpClose, EpRelease, FileRelease, KernelEvent, PermWait, Readdir } from '../model/events.js';
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
  type EpitemData,
  type EpollData,
  type EventfsData,
  type FileData,
  type MarkData,
} from './kinds.js';
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

/** An epoll_ctl in flight in one task, with what it was found to touch. */
export interface CtlInFlight {
  ev: EpCtl;
  /** The epoll instance (struct eventpoll) behind epfd, once known. */
  ep: Addr | undefined;
  /** The target file, once known (fd table, or the insert/remove inside the call). */
  file: Addr | undefined;
}

/** How far up the dentry tree a removal is looked for. */
const MAX_ANCESTRY = 16;

export class World {
  readonly files: ObjectTable<FileData>;
  readonly dentries: ObjectTable<DentryData>;
  readonly epitems: ObjectTable<EpitemData>;
  readonly epolls: ObjectTable<EpollData>;
  readonly marks: ObjectTable<MarkData>;
  readonly eventfs: ObjectTable<EventfsData>;
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
  private readonly fputOfReborn = new Map<Addr, number>();
  /** dcache_readdir in flight: directory dentry -> tid -> entry event. */
  readonly readdir = new Map<Addr, Map<number, Readdir>>();
  readonly permWait = new Map<number, PermWait>();
  /** epfd -> eventpoll, learned from inserts and removes inside epoll_ctl ("pid:epfd"). */
  private readonly epByFd = new Map<string, Addr>();

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

  apply(ev: KernelEvent): void {
    if (this.afterFree.length > 0) this.afterFree = [];
    switch (ev.kind) {
      case 'file.alloc': {
        // Reallocated while the old generation's __fput still runs on another CPU (6.12 frees the
        // file inside __fput): the old one is freed by now, with what eventpoll_release_file() reaped.
        const dying = this.fput.get(ev.file);
        const old = this.files.get(ev.file);
        if (dying !== undefined) {
          this.fput.delete(ev.file);
          this.fputOfReborn.set(ev.file, dying.tid);
          if (old !== undefined) this.freeFile(old, ev);
        }
        this.files.birth(ev.file, ev, 'live');
        return;
      }
      case 'file.open': {
        const f = this.useFile(ev.file, ev);
        if (f) f.data.dentry = ev.dentry;
        this.useDentry(ev.dentry, ev, ev.parent);
        return;
      }
      case 'fd.install':
        this.useFile(ev.file, ev);
        this.fds.install(ev.pid, ev.fd, ev.file, ev);
        return;
      case 'fd.close':
        this.fds.close(ev.pid, ev.fd);
        return;
      case 'fd.closed':
        return;
      case 'fd.close.range':
        for (const e of this.fds.entries(ev.pid)) if (e.fd >= ev.first && e.fd <= ev.last) this.fds.close(ev.pid, e.fd);
        return;
      case 'fd.cloexec':
        for (const fd of ev.fds) this.fds.close(ev.pid, fd);
        return;
      case 'file.lastref': {
        const f = this.useFile(ev.file, ev);
        if (f) {
          f.data.lastRef = ev;
          this.files.setPhase(f, 'last-ref', ev);
        }
        return;
      }
      case 'file.release': {
        const f = this.useFile(ev.file, ev);
        if (f) {
          f.data.release = ev;
          if (ev.dentry !== '0') f.data.dentry = ev.dentry;
          this.files.setPhase(f, 'releasing', ev);
        }
        this.fput.set(ev.file, ev);
        return;
      }
      case 'file.freed': {
        if (this.fputOfReborn.get(ev.file) === ev.tid) {
          this.fputOfReborn.delete(ev.file);
          return;
        }
        this.fput.delete(ev.file);
        const f = this.files.get(ev.file);
        if (f) this.freeFile(f, ev);
        return;
      }
      case 'task.fork':
        this.fds.fork(ev.pid, ev.child);
        return;
      case 'task.exit':
        this.fds.exit(ev.pid);
        return;

      case 'ep.ctl': {
        const ep = this.epByFd.get(`${ev.pid}:${ev.epfd}`);
        this.ctl.set(ev.tid, { ev, ep, file: this.fds.get(ev.pid, ev.fd)?.file });
        return;
      }
      case 'ep.ctl.done':
        this.ctl.delete(ev.tid);
        return;
      case 'ep.insert': {
        const existing = this.epitems.get(ev.epi);
        // ep_ptable_queue_proc runs once per wait queue of the target: later calls are the same epitem.
        if (existing !== undefined && existing.data.file === ev.file) return;
        // The address of a live epitem of another file, reused: that epitem was freed (reaped by its
        // file's eventpoll_release_file(), an RCU period ago) before its file's __fput ended.
        if (existing !== undefined) this.dropEpitem(ev.epi, ev);
        const f = this.useFile(ev.file, ev);
        const epi = this.epitems.birth(ev.epi, ev, 'registered');
        Object.assign(epi.data, { ep: ev.ep, file: ev.file, fd: ev.fd, insert: ev });
        if (f) (f.data.epitems === NO_EPITEMS ? (f.data.epitems = new Set()) : (f.data.epitems as Set<Addr>)).add(ev.epi);
        this.epolls.use(ev.ep, ev, 'live')!.data.items.add(ev.epi);
        this.fds.learn(ev.pid, ev.fd, ev.file, ev);
        this.noteCtlTarget(ev.tid, ev.pid, ev.ep, ev.file);
        return;
      }
      case 'ep.remove': {
        this.noteCtlTarget(ev.tid, ev.pid, ev.ep, ev.file);
        if (this.epitems.get(ev.epi) !== undefined) this.dropEpitem(ev.epi, ev);
        // Removal of an epitem already removed: a use after free.
        else if (this.epitems.tombstone(ev.epi) !== undefined) this.noteAfterFree(this.epitems.tombstone(ev.epi)!);
        return;
      }
      case 'ep.release':
        this.epRelease.set(ev.tid, ev);
        this.useFile(ev.file, ev);
        return;
      case 'ep.release.done': {
        // eventpoll_release_file() unlinked whatever epitems were still on the file.
        this.epRelease.delete(ev.tid);
        const f = this.files.get(ev.file);
        if (f && f.data.epitems.size > 0) for (const epi of [...f.data.epitems]) this.dropEpitem(epi, ev, f.addr);
        return;
      }
      case 'ep.close': {
        this.epClose.set(ev.tid, ev);
        const ep = this.epolls.use(ev.ep, ev, 'live')!;
        ep.data.file = ev.file;
        this.epolls.setPhase(ep, 'closing', ev);
        return;
      }
      case 'ep.close.done': {
        this.epClose.delete(ev.tid);
        const ep = this.epolls.get(ev.ep);
        if (ep) {
          for (const epi of [...ep.data.items]) this.dropEpitem(epi, ev);
          this.epolls.free(ep, ev);
        }
        return;
      }
      case 'ep.poll': {
        this.use(this.epitems, ev.epi, ev);
        this.useFile(ev.file, ev);
        return;
      }
      case 'ep.poll.done':
      case 'target.poll':
        // Records about a dying file's ->poll(): evidence for the rules, no change of state (the
        // file may be freed already: that is what they are about, not a use of lifetrace's making).
        return;

      case 'dentry.alloc': {
        const d = this.dentries.birth(ev.dentry, ev, 'live');
        d.data.parent = ev.parent;
        d.data.name = ev.name;
        d.data.removed = this.removalAbove(ev.parent);
        this.useDentry(ev.parent, ev);
        return;
      }
      case 'dentry.delete': {
        const d = this.useDentry(ev.dentry, ev, ev.parent, ev.name);
        if (d) this.dentries.setPhase(d, ev.count === 1 ? 'negative' : 'unhashed', ev);
        return;
      }
      case 'dentry.ptykill':
      case 'dentry.invalidate':
      case 'dentry.rmtree':
      case 'tracefs.remove': {
        const d = this.useDentry(ev.dentry, ev, ev.parent);
        if (d) {
          d.data.removed ??= ev;
          this.dentries.setPhase(d, 'removed', ev);
        }
        return;
      }
      case 'dentry.put': {
        const d = this.useDentry(ev.dentry, ev, ev.parent);
        if (d && ev.count === 1) {
          if (d.data.removed !== undefined || (d.data.removed = this.removalAbove(ev.parent)) !== undefined) d.data.zero = ev;
          this.dentries.setPhase(d, 'unused', ev);
        }
        return;
      }
      case 'dentry.kill': {
        const d = this.useDentry(ev.dentry, ev, ev.parent);
        if (d) this.dentries.free(d, ev);
        return;
      }
      case 'readdir': {
        this.useDentry(ev.dir, ev);
        let m = this.readdir.get(ev.dir);
        if (m === undefined) this.readdir.set(ev.dir, (m = new Map()));
        m.set(ev.tid, ev);
        return;
      }
      case 'readdir.done': {
        const m = this.readdir.get(ev.dir);
        if (m) {
          m.delete(ev.tid);
          if (m.size === 0) this.readdir.delete(ev.dir);
        }
        return;
      }

      case 'mark.add': {
        const m = this.marks.birth(ev.mark, ev, 'attached');
        m.data.group = ev.group;
        return;
      }
      case 'mark.detach':
      case 'mark.destroy':
      case 'mark.free': {
        const m = this.use(this.marks, ev.mark, ev);
        if (m) {
          this.marks.setPhase(m, ev.kind === 'mark.detach' ? 'detached' : ev.kind === 'mark.free' ? 'dead' : 'destroyed', ev);
        }
        return;
      }
      case 'mark.put': {
        const m = this.use(this.marks, ev.mark, ev);
        // Probably the last reference (the count is read at the put's entry): the free is mark.gone.
        if (m && ev.count === 1) this.marks.setPhase(m, 'last-ref', ev);
        return;
      }
      case 'mark.gone': {
        const m = this.marks.get(ev.mark);
        if (m) this.marks.free(m, ev);
        return;
      }
      case 'perm.wait':
        for (const mark of ev.marks) this.use(this.marks, mark, ev);
        this.permWait.set(ev.tid, ev);
        return;
      case 'perm.wait.done':
        this.permWait.delete(ev.tid);
        return;

      case 'eventfs.create': {
        const e = this.eventfs.birth(ev.ei, ev, 'live');
        e.data.name = ev.name;
        return;
      }
      case 'eventfs.remove': {
        const e = this.use(this.eventfs, ev.ei, ev);
        if (e) {
          e.data.name ??= ev.name;
          e.data.removed ??= ev;
          this.eventfs.setPhase(e, 'removed', ev);
          // Its directory's dentry goes with it: opens below it are now uses after removal.
          const dir = e.data.dir && this.dentries.get(e.data.dir);
          if (dir) dir.data.removed ??= ev;
        }
        return;
      }
      case 'eventfs.lookup': {
        const e = this.use(this.eventfs, ev.ei, ev);
        if (e) e.data.dir = ev.dir;
        this.useDentry(ev.dir, ev);
        return;
      }
      case 'eventfs.open':
        this.use(this.eventfs, ev.ei, ev);
        this.useDentry(ev.dentry, ev);
        this.useFile(ev.file, ev);
        return;
      default: {
        const never: never = ev;
        throw new Error(`unhandled event ${(never as KernelEvent).kind}`);
      }
    }
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
  private useFile(addr: Addr, ev: KernelEvent): Tracked<FileData> | undefined {
    return this.use(this.files, addr, ev);
  }

  private useDentry(addr: Addr, ev: KernelEvent, parent?: Addr, name?: string): Tracked<DentryData> | undefined {
    if (addr === '0') return undefined;
    const d = this.use(this.dentries, addr, ev);
    if (d) {
      if (parent !== undefined && parent !== '0') d.data.parent = parent;
      if (name !== undefined) d.data.name = name;
    }
    return d;
  }

  private use<D>(table: ObjectTable<D>, addr: Addr, ev: KernelEvent): Tracked<D> | undefined {
    const o = table.use(addr, ev, 'live');
    if (o === undefined) this.noteAfterFree(table.tombstone(addr)!);
    return o;
  }

  private noteAfterFree(t: Tombstone): void {
    this.afterFree.push(t);
  }

  private noteCtlTarget(tid: number, pid: number, ep: Addr, file: Addr): void {
    const c = this.ctl.get(tid);
    if (c === undefined) return;
    c.ep = ep;
    c.file ??= file;
    this.epByFd.set(`${pid}:${c.ev.epfd}`, ep);
  }

  /** The epitem at `addr` is unlinked from its file and its epoll instance, and freed. */
  /**
   * A file's end. Epitems still on it were unlinked by eventpoll_release_file() in its __fput
   * (f_ep was set), whether or not that was printed.
   */
  private freeFile(f: Tracked<FileData>, ev: KernelEvent): void {
    if (f.data.epitems.size > 0) for (const epi of [...f.data.epitems]) this.dropEpitem(epi, ev, f.addr);
    this.files.free(f, ev);
  }

  private dropEpitem(addr: Addr, ev: KernelEvent, of?: Addr): void {
    const epi = this.epitems.get(addr);
    // `of`: only an epitem of that file (its address may already be another file's epitem).
    if (epi === undefined || (of !== undefined && epi.data.file !== of)) return;
    const watched = this.files.get(epi.data.file)?.data.epitems;
    if (watched !== undefined && watched !== NO_EPITEMS) (watched as Set<Addr>).delete(addr);
    this.epolls.get(epi.data.ep)?.data.items.delete(addr);
    this.epitems.free(epi, ev);
  }
}
