/**
 * probes/syscalls.bt, the fallback without kprobes: syscall tracepoints carry fd numbers, not
 * struct file addresses. The records decode to fd-level events; decode/fd-model.ts turns them into
 * kernel events once they are in time order.
 */
import type { FamilyDecoder } from '../fields.js';

export const syscallsDecoder: FamilyDecoder = {
  family: 'syscalls',
  records: [
    {
      tag: 'sc_ctl',
      fn: 'epoll_ctl',
      fields: 3,
      decode: (r, fn) => ({
        t: r.t,
        cpu: r.cpu,
        pid: r.pid,
        tid: r.tid,
        comm: r.comm,
        line: r.lineNo,
        kind: 'sc.ctl',
        fn,
        epfd: r.int(0),
        op: r.int(1),
        fd: r.int(2),
      }),
    },
    {
      tag: 'sc_ctl_r',
      fn: 'epoll_ctl',
      fields: 4,
      decode: (r, fn) => ({
        t: r.t,
        cpu: r.cpu,
        pid: r.pid,
        tid: r.tid,
        comm: r.comm,
        line: r.lineNo,
        kind: 'sc.ctl.done',
        fn,
        epfd: r.int(0),
        op: r.int(1),
        fd: r.int(2),
        ret: r.int(3),
      }),
    },
    {
      tag: 'sc_new',
      fn: 'open',
      fields: 1,
      decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'sc.new', fn, fd: r.int(0) }),
    },
    {
      tag: 'sc_pipe',
      fn: 'pipe2',
      fields: 2,
      decode: (r, fn) => ({
        t: r.t,
        cpu: r.cpu,
        pid: r.pid,
        tid: r.tid,
        comm: r.comm,
        line: r.lineNo,
        kind: 'sc.pipe',
        fn,
        fd0: r.int(0),
        fd1: r.int(1),
      }),
    },
    {
      tag: 'sc_dup',
      fn: 'dup',
      fields: 2,
      decode: (r, fn) => ({
        t: r.t,
        cpu: r.cpu,
        pid: r.pid,
        tid: r.tid,
        comm: r.comm,
        line: r.lineNo,
        kind: 'sc.dup',
        fn,
        oldfd: r.int(0),
        fd: r.int(1),
      }),
    },
    {
      tag: 'sc_close',
      fn: 'close',
      fields: 1,
      decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'sc.close', fn, fd: r.int(0) }),
    },
    {
      tag: 'sc_fork',
      fn: 'task_newtask',
      fields: 1,
      decode: (r, fn) => ({
        t: r.t,
        cpu: r.cpu,
        pid: r.pid,
        tid: r.tid,
        comm: r.comm,
        line: r.lineNo,
        kind: 'sc.fork',
        fn,
        child: r.int(0),
      }),
    },
    {
      tag: 'sc_exit',
      fn: 'sched_process_exit',
      fields: 0,
      decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'sc.exit', fn }),
    },
  ],
};
