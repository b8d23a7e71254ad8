/** probes/file.bt: struct file births and deaths, fd tables, fork and exit. */
import type { FamilyDecoder } from '../fields.js';

export const fileDecoder: FamilyDecoder = {
  family: 'file',
  records: [
    { tag: 'alloc', fn: 'alloc_empty_file', fields: 1, decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'file.alloc', fn, file: r.addr(0) }) },
    { tag: 'open', fn: 'vfs_open', fields: 3, decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'file.open', fn, file: r.addr(0), dentry: r.addr(1), parent: r.addr(2) }) },
    { tag: 'fdi', fn: 'fd_install', fields: 2, decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'fd.install', fn, fd: r.int(0), file: r.addr(1) }) },
    { tag: 'fdc', fn: 'close', fields: 1, decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'fd.close', fn, fd: r.int(0) }) },
    { tag: 'fdc_r', fn: 'close', fields: 3, decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'fd.closed', fn, fd: r.int(0), file: r.addr(1), count: r.int(2) }) },
    // dup2()/dup3() over a followed fd: its close, what the file was left with, the new file there.
    { tag: 'dupc', fn: 'dup2', fields: 1, decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'fd.close', fn, fd: r.int(0) }) },
    { tag: 'dupc_r', fn: 'dup2', fields: 3, decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'fd.closed', fn, fd: r.int(0), file: r.addr(1), count: r.int(2) }) },
    { tag: 'dupi', fn: 'dup2', fields: 2, decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'fd.install', fn, fd: r.int(0), file: r.addr(1) }) },
    { tag: 'last', fn: 'fput', fields: 1, decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'file.lastref', fn, file: r.addr(0) }) },
    {
      tag: 'fput', fn: '__fput', fields: 4,
      decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'file.release', fn, file: r.addr(0), count: r.int(1), hasEp: r.bool(2), dentry: r.addr(3) }),
    },
    { tag: 'fput_r', fn: '__fput', fields: 1, decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'file.freed', fn, file: r.addr(0) }) },
    { tag: 'fork', fn: 'task_newtask', fields: 1, decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'task.fork', fn, child: r.int(0) }) },
    { tag: 'exit', fn: 'sched_process_exit', fields: 0, decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'task.exit', fn }) },
  ],
};
