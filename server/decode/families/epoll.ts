/** probes/epoll.bt: epoll_ctl, epitem insert (ep_insert's substitute) and removal, release, poll. */
import type { FamilyDecoder } from '../fields.js';

export const epollDecoder: FamilyDecoder = {
  family: 'epoll',
  records: [
    { tag: 'ctl', fn: 'do_epoll_ctl', fields: 3, decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'ep.ctl', fn, epfd: r.int(0), op: r.int(1), fd: r.int(2) }) },
    {
      tag: 'ctl_r', fn: 'do_epoll_ctl', fields: 4,
      decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'ep.ctl.done', fn, epfd: r.int(0), op: r.int(1), fd: r.int(2), ret: r.int(3) }),
    },
    {
      tag: 'ins', fn: 'ep_ptable_queue_proc', fields: 4,
      decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'ep.insert', fn, ep: r.addr(0), epi: r.addr(1), file: r.addr(2), fd: r.int(3) }),
    },
    {
      tag: 'rm', fn: 'ep_remove', fields: 4,
      decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'ep.remove', fn, ep: r.addr(0), epi: r.addr(1), file: r.addr(2), fd: r.int(3) }),
    },
    { tag: 'rel', fn: 'eventpoll_release_file', fields: 1, decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'ep.release', fn, file: r.addr(0) }) },
    { tag: 'rel_r', fn: 'eventpoll_release_file', fields: 1, decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'ep.release.done', fn, file: r.addr(0) }) },
    { tag: 'epc', fn: 'ep_eventpoll_release', fields: 2, decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'ep.close', fn, ep: r.addr(0), file: r.addr(1) }) },
    { tag: 'epc_r', fn: 'ep_eventpoll_release', fields: 2, decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'ep.close.done', fn, ep: r.addr(0), file: r.addr(1) }) },
    {
      tag: 'poll', fn: 'ep_item_poll', fields: 3,
      decode: (r, fn) => ({ t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'ep.poll', fn, epi: r.addr(0), file: r.addr(1), count: r.int(2) }),
    },
    {
      tag: 'poll_r', fn: 'ep_item_poll', fields: 6,
      decode: (r, fn) => ({
        t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'ep.poll.done', fn,
        epi: r.addr(0), file: r.addr(1), polled: r.bool(2), probed: r.bool(3), ret: r.int(4), pollFn: r.str(5),
      }),
    },
    {
      // fn is the ->poll() implementation the record names (pipe_poll, sock_poll...).
      tag: 'tpoll', fn: 'f_op->poll', fields: 4,
      decode: (r) => {
        const pollFn = r.str(3);
        return { t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: 'target.poll', fn: pollFn, file: r.addr(0), count: r.int(1), inside: r.bool(2), pollFn };
      },
    },
  ],
};
