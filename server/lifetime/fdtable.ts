/**
 * Per-process fd tables, as far as the probes reveal them: enough to know which file an fd number
 * pointed at and when it was closed. Fork copies the table (the fds share the parent's files).
 */
import type { Addr, KernelEvent } from '../model/events.js';

export interface FdEntry {
  file: Addr;
  since: KernelEvent;
}

export interface ClosedFd {
  file: Addr | undefined;
  closed: KernelEvent;
}

export class FdTables {
  private readonly tables = new Map<number, Map<number, FdEntry>>();

  get(pid: number, fd: number): FdEntry | undefined {
    return this.tables.get(pid)?.get(fd);
  }

  /** Installs `file` at `fd`; returns what the fd pointed at before (dup2 over an open fd). */
  install(pid: number, fd: number, file: Addr, ev: KernelEvent): FdEntry | undefined {
    let t = this.tables.get(pid);
    if (t === undefined) this.tables.set(pid, (t = new Map()));
    const prev = t.get(fd);
    t.set(fd, { file, since: ev });
    return prev;
  }

  /** Learns an fd's file without claiming when it was installed (only if unknown). */
  learn(pid: number, fd: number, file: Addr, ev: KernelEvent): void {
    if (this.get(pid, fd) === undefined) this.install(pid, fd, file, ev);
  }

  close(pid: number, fd: number, ev: KernelEvent): ClosedFd {
    const t = this.tables.get(pid);
    const prev = t?.get(fd);
    t?.delete(fd);
    return { file: prev?.file, closed: ev };
  }

  fork(parent: number, child: number): void {
    const t = this.tables.get(parent);
    if (t !== undefined) this.tables.set(child, new Map(t));
  }

  exit(pid: number): void {
    this.tables.delete(pid);
  }

  get processes(): number {
    return this.tables.size;
  }
}
