/**
 * Per-process fd tables, as far as the probes reveal them: enough to know which file an fd number
 * pointed at, when it was closed, and which other descriptors still hold the same file. Fork
 * copies the table (the fds share the parent's files).
 */
import type { Addr, KernelEvent } from '../model/events.js';

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
