/**
 * Per-process fd tables, as far as the probes reveal them: enough to know which file an fd number
 * pointed at, when it was closed, and which other descriptors still hold the same file. Fork
 * copies the table (the fds share the parent's files). The World keeps one (from the file family's
 * events); the syscalls fallback's FdModel keeps its own, from which it makes those events.
 */
import { EPOLL_CTL_ADD, EPOLL_CTL_DEL, type Addr, type KernelEvent, type SyscallEvent } from '../model/events.js';

export interface FdEntry {
  pid: number;
  fd: number;
  file: Addr;
  since: KernelEvent;
}

export class FdTables {
  private readonly tables = new Map<number, Map<number, FdEntry>>();
  /** file -> the descriptors that name it: most files have one, kept bare (a Set per file is costly). */
  private readonly holders = new Map<Addr, FdEntry | Set<FdEntry>>();

  get(pid: number, fd: number): FdEntry | undefined {
    return this.tables.get(pid)?.get(fd);
  }

  /** Another descriptor (in any process) that names `file`, besides (pid, fd): the first one found. */
  otherHolder(file: Addr, pid: number, fd: number): FdEntry | undefined {
    const h = this.holders.get(file);
    if (h === undefined) return undefined;
    if (!(h instanceof Set)) return h.pid !== pid || h.fd !== fd ? h : undefined;
    for (const e of h) if (e.pid !== pid || e.fd !== fd) return e;
    return undefined;
  }

  /** Whether process `pid` has a table (it may be empty: all its fds closed). */
  hasTable(pid: number): boolean {
    return this.tables.has(pid);
  }

  /** Whether any descriptor names `file`. */
  isHeld(file: Addr): boolean {
    return this.holders.has(file);
  }

  /** Every descriptor that names `file`. */
  holdersOf(file: Addr): FdEntry[] {
    const h = this.holders.get(file);
    return h === undefined ? [] : h instanceof Set ? [...h] : [h];
  }

  /** The descriptors of process `pid`. */
  entries(pid: number): FdEntry[] {
    return [...(this.tables.get(pid)?.values() ?? [])];
  }

  /** Installs `file` at `fd`; returns what the fd pointed at before (dup2 over an open fd). */
  install(pid: number, fd: number, file: Addr, ev: KernelEvent): FdEntry | undefined {
    let t = this.tables.get(pid);
    if (t === undefined) this.tables.set(pid, (t = new Map()));
    const prev = t.get(fd);
    if (prev !== undefined) this.unhold(prev);
    const e: FdEntry = { pid, fd, file, since: ev };
    t.set(fd, e);
    this.hold(e);
    return prev;
  }

  /** Learns an fd's file without claiming when it was installed (only if unknown). */
  learn(pid: number, fd: number, file: Addr, ev: KernelEvent): void {
    if (this.get(pid, fd) === undefined) this.install(pid, fd, file, ev);
  }

  close(pid: number, fd: number): FdEntry | undefined {
    const t = this.tables.get(pid);
    const prev = t?.get(fd);
    if (prev !== undefined) {
      t!.delete(fd);
      this.unhold(prev);
    }
    return prev;
  }

  fork(parent: number, child: number): void {
    const t = this.tables.get(parent);
    if (t === undefined) return;
    const copy = new Map<number, FdEntry>();
    for (const [fd, e] of t) {
      const c = { ...e, pid: child };
      copy.set(fd, c);
      this.hold(c);
    }
    this.exit(child);
    this.tables.set(child, copy);
  }

  exit(pid: number): void {
    const t = this.tables.get(pid);
    if (t === undefined) return;
    for (const e of t.values()) this.unhold(e);
    this.tables.delete(pid);
  }

  private hold(e: FdEntry): void {
    const h = this.holders.get(e.file);
    if (h === undefined) this.holders.set(e.file, e);
    else if (h instanceof Set) h.add(e);
    else this.holders.set(e.file, new Set([h, e]));
  }

  private unhold(e: FdEntry): void {
    const h = this.holders.get(e.file);
    if (h === undefined) return;
    if (h instanceof Set) {
      h.delete(e);
      if (h.size === 0) this.holders.delete(e.file);
    } else if (h === e) {
      this.holders.delete(e.file);
    }
  }
}

/**
 * Turns the fallback's fd-level records (in time order) into kernel events. It keeps the fd tables
 * itself (dup shares an open file, fork copies the table, close drops an entry) and names each open
 * file and epitem with a synthetic address, so the same World and rules work on top:
 *
 *   fd000000xxxxxxxx  an open file (one per open/socket/pipe end/..., or per fd first seen in use)
 *   e9000000xxxxxxxx  an epitem (epoll instance, file, fd)
 *
 * When the last descriptor of an open file is closed everywhere, that close is emitted as the
 * file's final release and free (other references, e.g. mmap or SCM_RIGHTS in flight, are unseen).
 */
export class FdModel {
  private readonly fds = new FdTables();
  /**
   * Files a process held when its pid forked again before its exit was seen: when that process
   * closed them is unknown, so they are never released.
   */
  private readonly heldByUnseen = new Set<Addr>();
  private readonly epis = new Map<string, Addr>();
  private nextFile = 1n;
  private nextEpi = 1n;

  translate(ev: SyscallEvent, out: Out): void {
    const o = { t: ev.t, cpu: ev.cpu, pid: ev.pid, tid: ev.tid, comm: ev.comm, line: ev.line };
    switch (ev.kind) {
      case 'sc.ctl':
        return out({ ...o, kind: 'ep.ctl', fn: ev.fn, epfd: ev.epfd, op: ev.op, fd: ev.fd });
      case 'sc.ctl.done': {
        if (ev.ret === 0 && (ev.op === EPOLL_CTL_ADD || ev.op === EPOLL_CTL_DEL)) {
          const ep = this.fileAt(ev, ev.epfd, out);
          const file = this.fileAt(ev, ev.fd, out);
          const key = `${ep}:${file}:${ev.fd}`;
          let epi = this.epis.get(key);
          if (epi === undefined && ev.op === EPOLL_CTL_ADD) this.epis.set(key, (epi = (EPI + this.nextEpi++).toString(16) as Addr));
          if (epi !== undefined) {
            out({ ...o, kind: ev.op === EPOLL_CTL_ADD ? 'ep.insert' : 'ep.remove', fn: ev.fn, ep, epi, file, fd: ev.fd });
            if (ev.op === EPOLL_CTL_DEL) this.epis.delete(key);
          }
        }
        return out({ ...o, kind: 'ep.ctl.done', fn: ev.fn, epfd: ev.epfd, op: ev.op, fd: ev.fd, ret: ev.ret });
      }
      case 'sc.new':
        this.install(ev, ev.fd, this.newFile(), out);
        return;
      case 'sc.pipe':
        this.install(ev, ev.fd0, this.newFile(), out);
        this.install(ev, ev.fd1, this.newFile(), out);
        return;
      case 'sc.dup': {
        const file = this.fileAt(ev, ev.oldfd, out);
        const prev = this.fds.get(ev.pid, ev.fd)?.file;
        if (prev === file) return;
        // dup2/dup3 over an open fd closes it first, without close(2).
        if (prev !== undefined) out({ ...o, kind: 'fd.close', fn: ev.fn, fd: ev.fd });
        this.install(ev, ev.fd, file, out);
        return;
      }
      case 'sc.close': {
        out({ ...o, kind: 'fd.close', fn: ev.fn, fd: ev.fd });
        const prev = this.fds.close(ev.pid, ev.fd);
        if (prev !== undefined) this.released(ev, prev.file, out);
        return;
      }
      case 'sc.fork': {
        // A child pid that still has a table: that process's exit was not seen (its files stay held).
        if (this.fds.hasTable(ev.pid)) for (const e of this.fds.entries(ev.child)) this.heldByUnseen.add(e.file);
        this.fds.fork(ev.pid, ev.child);
        return out({ ...o, kind: 'task.fork', fn: ev.fn, child: ev.child });
      }
      case 'sc.exit': {
        out({ ...o, kind: 'task.exit', fn: ev.fn });
        // One descriptor at a time, in the table's order: a file goes with its last descriptor.
        for (const e of this.fds.entries(ev.pid)) {
          this.fds.close(ev.pid, e.fd);
          this.released(ev, e.file, out);
        }
        this.fds.exit(ev.pid);
        return;
      }
    }
  }

  /** The open file at (pid, fd), named on first sight when the fd was opened before the capture. */
  private fileAt(ev: SyscallEvent, fd: number, out: Out): Addr {
    return this.fds.get(ev.pid, fd)?.file ?? this.install(ev, fd, this.newFile(), out);
  }

  private newFile(): Addr {
    return (FILE + this.nextFile++).toString(16) as Addr;
  }

  private install(ev: SyscallEvent, fd: number, file: Addr, out: Out): Addr {
    const installed: KernelEvent = {
      t: ev.t,
      cpu: ev.cpu,
      pid: ev.pid,
      tid: ev.tid,
      comm: ev.comm,
      line: ev.line,
      kind: 'fd.install',
      fn: ev.fn,
      fd,
      file,
    };
    const prev = this.fds.install(ev.pid, fd, file, installed);
    if (prev !== undefined) this.released(ev, prev.file, out); // dup2 over an open fd closes it
    out(installed);
    return file;
  }

  /** A descriptor of `file` is gone: if it was the last one, the file's final release and free. */
  private released(ev: SyscallEvent, file: Addr, out: Out): void {
    if (this.fds.isHeld(file) || this.heldByUnseen.has(file)) return;
    const o = { t: ev.t, cpu: ev.cpu, pid: ev.pid, tid: ev.tid, comm: ev.comm, line: ev.line, fn: ev.fn };
    out({ ...o, kind: 'file.release', file, count: 0, hasEp: false, dentry: '0' as Addr });
    out({ ...o, kind: 'file.freed', file });
  }
}

const FILE = 0xfd00000000000000n;
const EPI = 0xe900000000000000n;

type Out = (ev: KernelEvent) => void;
