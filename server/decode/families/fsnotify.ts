/** probes/fsnotify.bt: mark lifetimes and permission-event waits. */
import type { Addr } from '../../model/events.js';
import type { FamilyDecoder } from '../fields.js';

const NULL = '0';

export const fsnotifyDecoder: FamilyDecoder = {
  family: 'fsnotify',
  records: [
    {
      tag: 'm_add',
      fn: 'fsnotify_add_mark_locked',
      fields: 2,
      decode: (r, fn) => ({
        t: r.t,
        cpu: r.cpu,
        pid: r.pid,
        tid: r.tid,
        comm: r.comm,
        line: r.lineNo,
        kind: 'mark.add',
        fn,
        mark: r.addr(0),
        group: r.addr(1),
      }),
    },
    {
      tag: 'm_detach',
      fn: 'fsnotify_detach_mark',
      fields: 1,
      decode: (r, fn) => ({
        t: r.t,
        cpu: r.cpu,
        pid: r.pid,
        tid: r.tid,
        comm: r.comm,
        line: r.lineNo,
        kind: 'mark.detach',
        fn,
        mark: r.addr(0),
      }),
    },
    {
      tag: 'm_destroy',
      fn: 'fsnotify_destroy_mark',
      fields: 1,
      decode: (r, fn) => ({
        t: r.t,
        cpu: r.cpu,
        pid: r.pid,
        tid: r.tid,
        comm: r.comm,
        line: r.lineNo,
        kind: 'mark.destroy',
        fn,
        mark: r.addr(0),
      }),
    },
    {
      tag: 'm_free',
      fn: 'fsnotify_free_mark',
      fields: 1,
      decode: (r, fn) => ({
        t: r.t,
        cpu: r.cpu,
        pid: r.pid,
        tid: r.tid,
        comm: r.comm,
        line: r.lineNo,
        kind: 'mark.free',
        fn,
        mark: r.addr(0),
      }),
    },
    // ->free_mark() of the mark's group (inotify, fanotify or dnotify): the memory goes.
    {
      tag: 'm_gone',
      fn: '->free_mark',
      fields: 1,
      decode: (r, fn) => ({
        t: r.t,
        cpu: r.cpu,
        pid: r.pid,
        tid: r.tid,
        comm: r.comm,
        line: r.lineNo,
        kind: 'mark.gone',
        fn,
        mark: r.addr(0),
      }),
    },
    {
      tag: 'm_put',
      fn: 'fsnotify_put_mark',
      fields: 2,
      decode: (r, fn) => ({
        t: r.t,
        cpu: r.cpu,
        pid: r.pid,
        tid: r.tid,
        comm: r.comm,
        line: r.lineNo,
        kind: 'mark.put',
        fn,
        mark: r.addr(0),
        count: r.int(1),
      }),
    },
    {
      // iter_info->marks[] has one slot per iterator type (inode, vfsmount, sb, parent); 0 = empty.
      tag: 'pw',
      fn: 'fsnotify_prepare_user_wait',
      fields: 5,
      decode: (r, fn) => {
        const marks: Addr[] = [];
        for (let i = 1; i <= 4; i++) {
          const m = r.addr(i);
          if (m !== NULL) marks.push(m);
        }
        return { t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'perm.wait', fn, iter: r.addr(0), marks };
      },
    },
    {
      tag: 'pw_r',
      fn: 'fsnotify_finish_user_wait',
      fields: 1,
      decode: (r, fn) => ({
        t: r.t,
        cpu: r.cpu,
        pid: r.pid,
        tid: r.tid,
        comm: r.comm,
        line: r.lineNo,
        kind: 'perm.wait.done',
        fn,
        iter: r.addr(0),
      }),
    },
    // The task exited with a wait still held for it: that ends the wait too.
    {
      tag: 'pw_x',
      fn: 'sched_process_exit',
      fields: 1,
      decode: (r, fn) => ({
        t: r.t,
        cpu: r.cpu,
        pid: r.pid,
        tid: r.tid,
        comm: r.comm,
        line: r.lineNo,
        kind: 'perm.wait.done',
        fn,
        iter: r.addr(0),
      }),
    },
  ],
};
