/** probes/tracefs.bt: eventfs directories (6.6+) and tracefs removal. */
import type { FamilyDecoder } from '../fields.js';

export const tracefsDecoder: FamilyDecoder = {
  family: 'tracefs',
  records: [
    { tag: 'efs_new', fn: 'eventfs_create_dir', fields: 2, variadic: true, decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'eventfs.create', fn, ei: r.addr(0), name: r.str(1, true) }) },
    { tag: 'efs_rm', fn: 'eventfs_remove_dir', fields: 2, variadic: true, decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'eventfs.remove', fn, ei: r.addr(0), name: r.str(1, true) }) },
    {
      tag: 'efs_lookup', fn: 'eventfs_root_lookup', fields: 3, variadic: true,
      decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'eventfs.lookup', fn, ei: r.addr(0), dir: r.addr(1), name: r.str(2, true) }),
    },
    {
      tag: 'efs_open', fn: 'tracing_open_file_tr', fields: 3,
      decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'eventfs.open', fn, ei: r.addr(0), dentry: r.addr(1), file: r.addr(2) }),
    },
    { tag: 'tfs_rm', fn: 'tracefs_remove', fields: 2, decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'tracefs.remove', fn, dentry: r.addr(0), parent: r.addr(1) }) },
  ],
};
