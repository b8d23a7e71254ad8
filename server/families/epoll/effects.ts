/** What the epoll family's events do to the World: epoll_ctl in flight, epitems and epoll instances. */
import type { Addr } from '../../model/event-shape.js';
import type { Effects } from '../../lifetime/state.js';
import { NO_EPITEMS } from '../../lifetime/kinds.js';
import type { EpollEvent } from './events.js';

export const epollEffects: Effects<EpollEvent> = {
  'ep.ctl': (w, ev) => {
    const ep = w.epByFd.get(`${ev.pid}:${ev.epfd}`);
    w.ctl.set(ev.tid, { ev, ep, file: w.fds.get(ev.pid, ev.fd)?.file });
  },
  'ep.ctl.done': (w, ev) => {
    w.ctl.delete(ev.tid);
  },
  'ep.insert': (w, ev) => {
    const existing = w.epitems.get(ev.epi);
    // ep_ptable_queue_proc runs once per wait queue of the target: later calls are the same epitem.
    if (existing !== undefined && existing.data.file === ev.file) return;
    // The address of a live epitem of another file, reused: that epitem was freed (reaped by its
    // file's eventpoll_release_file(), an RCU period ago) before its file's __fput ended.
    if (existing !== undefined) w.dropEpitem(ev.epi, ev);
    const f = w.useFile(ev.file, ev);
    const epi = w.epitems.birth(ev.epi, ev, 'registered');
    Object.assign(epi.data, { ep: ev.ep, file: ev.file, fd: ev.fd, insert: ev });
    if (f) (f.data.epitems === NO_EPITEMS ? (f.data.epitems = new Set()) : (f.data.epitems as Set<Addr>)).add(ev.epi);
    w.epolls.use(ev.ep, ev, 'live')!.data.items.add(ev.epi);
    w.fds.learn(ev.pid, ev.fd, ev.file, ev);
    w.noteCtlTarget(ev.tid, ev.pid, ev.ep, ev.file);
  },
  'ep.remove': (w, ev) => {
    w.noteCtlTarget(ev.tid, ev.pid, ev.ep, ev.file);
    if (w.epitems.get(ev.epi) !== undefined) w.dropEpitem(ev.epi, ev);
    // Removal of an epitem already removed: a use after free.
    else if (w.epitems.tombstone(ev.epi) !== undefined) w.noteAfterFree(w.epitems.tombstone(ev.epi)!);
  },
  'ep.release': (w, ev) => {
    w.epRelease.set(ev.tid, ev);
    w.useFile(ev.file, ev);
  },
  'ep.release.done': (w, ev) => {
    // eventpoll_release_file() unlinked whatever epitems were still on the file.
    w.epRelease.delete(ev.tid);
    const f = w.files.get(ev.file);
    if (f && f.data.epitems.size > 0) for (const epi of [...f.data.epitems]) w.dropEpitem(epi, ev, f.addr);
  },
  'ep.close': (w, ev) => {
    w.epClose.set(ev.tid, ev);
    const ep = w.epolls.use(ev.ep, ev, 'live')!;
    ep.data.file = ev.file;
    w.epolls.setPhase(ep, 'closing', ev);
  },
  'ep.close.done': (w, ev) => {
    w.epClose.delete(ev.tid);
    const ep = w.epolls.get(ev.ep);
    if (ep) {
      for (const epi of [...ep.data.items]) w.dropEpitem(epi, ev);
      w.epolls.free(ep, ev);
    }
  },
  'ep.poll': (w, ev) => {
    w.use(w.epitems, ev.epi, ev);
    w.useFile(ev.file, ev);
  },
  // Records about a dying file's ->poll(): evidence for the rules, no change of state (the file may
  // be freed already: that is what they are about, not a use of lifetrace's making).
  'ep.poll.done': () => {},
  'target.poll': () => {},
};
