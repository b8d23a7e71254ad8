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
import { EPOLL_CTL_ADD, EPOLL_CTL_DEL, type Addr, type KernelEvent, type SyscallEvent } from '../model/events.js';

const FILE = 0xfd00000000000000n;
const EPI = 0xe900000000000000n;

type Out = (ev: KernelEvent) => void;

export class FdModel {
  private readonly tables = new Map<number, Map<number, Addr>>();
  private readonly refs = new Map<Addr, number>();
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
        const prev = this.tables.get(ev.pid)?.get(ev.fd);
        if (prev === file) return;
        // dup2/dup3 over an open fd closes it first, without close(2).
        if (prev !== undefined) out({ ...o, kind: 'fd.close', fn: ev.fn, fd: ev.fd });
        this.install(ev, ev.fd, file, out);
        return;
      }
      case 'sc.close': {
        out({ ...o, kind: 'fd.close', fn: ev.fn, fd: ev.fd });
        const t = this.tables.get(ev.pid);
        const file = t?.get(ev.fd);
        if (file === undefined) return;
        t!.delete(ev.fd);
        this.unref(ev, file, out);
        return;
      }
      case 'sc.fork': {
        const t = this.tables.get(ev.pid);
        if (t !== undefined) {
          this.tables.set(ev.child, new Map(t));
          for (const file of t.values()) this.refs.set(file, (this.refs.get(file) ?? 0) + 1);
        }
        return out({ ...o, kind: 'task.fork', fn: ev.fn, child: ev.child });
      }
      case 'sc.exit': {
        out({ ...o, kind: 'task.exit', fn: ev.fn });
        const t = this.tables.get(ev.pid);
        if (t === undefined) return;
        this.tables.delete(ev.pid);
        for (const file of t.values()) this.unref(ev, file, out);
        return;
      }
    }
  }

  /** The open file at (pid, fd), named on first sight when the fd was opened before the capture. */
  private fileAt(ev: SyscallEvent, fd: number, out: Out): Addr {
    return this.tables.get(ev.pid)?.get(fd) ?? this.install(ev, fd, this.newFile(), out);
  }

  private newFile(): Addr {
    return (FILE + this.nextFile++).toString(16) as Addr;
  }

  private install(ev: SyscallEvent, fd: number, file: Addr, out: Out): Addr {
    let t = this.tables.get(ev.pid);
    if (t === undefined) this.tables.set(ev.pid, (t = new Map()));
    const prev = t.get(fd);
    t.set(fd, file);
    this.refs.set(file, (this.refs.get(file) ?? 0) + 1);
    if (prev !== undefined) this.unref(ev, prev, out); // dup2 over an open fd closes it
    out({ t: ev.t, cpu: ev.cpu, pid: ev.pid, tid: ev.tid, comm: ev.comm, line: ev.line, kind: 'fd.install', fn: ev.fn, fd, file });
    return file;
  }

  private unref(ev: SyscallEvent, file: Addr, out: Out): void {
    const n = (this.refs.get(file) ?? 1) - 1;
    if (n > 0) {
      this.refs.set(file, n);
      return;
    }
    this.refs.delete(file);
    const o = { t: ev.t, cpu: ev.cpu, pid: ev.pid, tid: ev.tid, comm: ev.comm, line: ev.line, fn: ev.fn };
    out({ ...o, kind: 'file.release', file, count: 0, hasEp: false, dentry: '0' as Addr });
    out({ ...o, kind: 'file.freed', file });
  }
}
