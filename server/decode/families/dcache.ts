/** probes/dcache.bt: dentry births, deletes, kills, removals, readdir, and filtered dput. */
import type { FamilyDecoder } from '../fields.js';

export const dcacheDecoder: FamilyDecoder = {
  family: 'dcache',
  records: [
    {
      tag: 'd_alloc', fn: 'd_alloc', fields: 3, variadic: true,
      decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'dentry.alloc', fn, dentry: r.addr(0), parent: r.addr(1), name: r.str(2, true) }),
    },
    {
      tag: 'd_del', fn: 'd_delete', fields: 4, variadic: true,
      decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'dentry.delete', fn, dentry: r.addr(0), parent: r.addr(1), count: r.int(2), name: r.str(3, true) }),
    },
    {
      tag: 'd_kill', fn: '__dentry_kill', fields: 3,
      decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'dentry.kill', fn, dentry: r.addr(0), parent: r.addr(1), count: r.int(2) }),
    },
    { tag: 'pty_kill', fn: 'devpts_pty_kill', fields: 2, decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'dentry.ptykill', fn, dentry: r.addr(0), parent: r.addr(1) }) },
    { tag: 'd_inval', fn: 'd_invalidate', fields: 2, decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'dentry.invalidate', fn, dentry: r.addr(0), parent: r.addr(1) }) },
    { tag: 'rrm', fn: 'simple_recursive_removal', fields: 2, decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'dentry.rmtree', fn, dentry: r.addr(0), parent: r.addr(1) }) },
    {
      tag: 'dput', fn: 'dput', fields: 3,
      decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'dentry.put', fn, dentry: r.addr(0), parent: r.addr(1), count: r.int(2) }),
    },
    { tag: 'rd', fn: 'dcache_readdir', fields: 2, decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'readdir', fn, dir: r.addr(0), file: r.addr(1) }) },
    { tag: 'rd_r', fn: 'dcache_readdir', fields: 1, decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'readdir.done', fn, dir: r.addr(0) }) },
  ],
};
