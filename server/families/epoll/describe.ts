/** One-line, human-readable renderings of the epoll family's events (evidence and dumps). */
import { hex, type PerKind } from '../../model/event-shape.js';
import { opName, type EpollEvent } from './events.js';

export const describeEpoll: PerKind<EpollEvent, [], string> = {
  'ep.ctl': (ev) => `epoll_ctl(epfd ${ev.epfd}, ${opName(ev.op)}, fd ${ev.fd})`,
  'ep.ctl.done': (ev) => `epoll_ctl(epfd ${ev.epfd}, ${opName(ev.op)}, fd ${ev.fd}) = ${ev.ret}`,
  'ep.insert': (ev) => `epitem ${hex(ev.epi)} inserted: file ${hex(ev.file)} fd ${ev.fd} in ep ${hex(ev.ep)}`,
  'ep.remove': (ev) => `epitem ${hex(ev.epi)} removed: file ${hex(ev.file)} fd ${ev.fd} from ep ${hex(ev.ep)}`,
  'ep.release': (ev) => `eventpoll_release_file(file ${hex(ev.file)})`,
  'ep.release.done': (ev) => `eventpoll_release_file(file ${hex(ev.file)}) done`,
  'ep.close': (ev) => `epoll instance ${hex(ev.ep)} closing (file ${hex(ev.file)})`,
  'ep.close.done': (ev) => `epoll instance ${hex(ev.ep)} closed`,
  'ep.poll': (ev) => `ep_item_poll(epitem ${hex(ev.epi)}) entered: file ${hex(ev.file)} count=${ev.count}`,
  'ep.poll.done': (ev) =>
    `ep_item_poll(epitem ${hex(ev.epi)}) returned ${ev.ret}: ${ev.pollFn}() of file ${hex(ev.file)} ` +
    (ev.polled ? 'was entered' : ev.probed ? 'was not entered' : 'is not probed'),
  'target.poll': (ev) => `${ev.pollFn}(file ${hex(ev.file)}) entered, count=${ev.count}${ev.inside ? ', inside ep_item_poll' : ''}`,
};
