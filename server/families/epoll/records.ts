/** probes/epoll.bt: epoll_ctl, epitem insert (ep_insert's substitute) and removal, release, poll. */
import { family, record } from '../../decode/spec.js';

export const epollSpec = family('epoll', [
  record({ tag: 'ctl', fn: 'do_epoll_ctl', kind: 'ep.ctl', fields: { epfd: 'int', op: 'int', fd: 'int' } }),
  record({ tag: 'ctl_r', fn: 'do_epoll_ctl', kind: 'ep.ctl.done', fields: { epfd: 'int', op: 'int', fd: 'int', ret: 'int' } }),
  record({ tag: 'ins', fn: 'ep_ptable_queue_proc', kind: 'ep.insert', fields: { ep: 'addr', epi: 'addr', file: 'addr', fd: 'int' } }),
  record({ tag: 'rm', fn: 'ep_remove', kind: 'ep.remove', fields: { ep: 'addr', epi: 'addr', file: 'addr', fd: 'int' } }),
  record({ tag: 'rel', fn: 'eventpoll_release_file', kind: 'ep.release', fields: { file: 'addr' } }),
  record({ tag: 'rel_r', fn: 'eventpoll_release_file', kind: 'ep.release.done', fields: { file: 'addr' } }),
  record({ tag: 'epc', fn: 'ep_eventpoll_release', kind: 'ep.close', fields: { ep: 'addr', file: 'addr' } }),
  record({ tag: 'epc_r', fn: 'ep_eventpoll_release', kind: 'ep.close.done', fields: { ep: 'addr', file: 'addr' } }),
  record({ tag: 'poll', fn: 'ep_item_poll', kind: 'ep.poll', fields: { epi: 'addr', file: 'addr', count: 'int' } }),
  record({
    tag: 'poll_r',
    fn: 'ep_item_poll',
    kind: 'ep.poll.done',
    fields: { epi: 'addr', file: 'addr', polled: 'bool', probed: 'bool', ret: 'int', pollFn: 'str' },
  }),
  // fn is the ->poll() implementation the record names (pipe_poll, sock_poll...).
  record({
    tag: 'tpoll',
    fn: 'f_op->poll',
    fnFrom: 'pollFn',
    kind: 'target.poll',
    fields: { file: 'addr', count: 'int', inside: 'bool', pollFn: 'str' },
  }),
]);
