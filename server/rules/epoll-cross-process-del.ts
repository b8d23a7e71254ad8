import { EPOLL_CTL_DEL } from '../model/events.js';
import { idOf, type Rule, watch } from './rule.js';

export const epollCrossProcessDel: Rule = {
  id: 'epoll.cross-process-del',
  severity: 'info',
  mailingList: '001',
  title: 'epitem removed by EPOLL_CTL_DEL from another process',
  explanation:
    'An epitem is keyed by <file, fd> inside one eventpoll, not by process. After fork() both processes ' +
    'share the epoll instance, so an EPOLL_CTL_DEL in the child removes the registration the parent made, ' +
    'for both of them. Legal, but a frequent surprise, and the reason the 2024 thread could not move ' +
    'eventpoll_release() to close time: the fd number in the key is only meaningful in one fd table.',
  needs: { all: ['ctl', 'ctl_r', 'ins', 'rm'] },
  create: () =>
    watch({
      on: ['ep.remove'],
      stage: 'before',
      observe(ev, world, out) {
        const ctl = world.ctl.get(ev.tid);
        if (ctl === undefined || ctl.ev.op !== EPOLL_CTL_DEL) return;
        const epi = world.epitems.get(ev.epi);
        const insert = epi?.data.insert;
        if (epi === undefined || insert === undefined || insert.pid === ev.pid) return;
        const file = world.files.get(ev.file);
        out.raise(epollCrossProcessDel, {
          key: `${ev.epi}#${epi.gen}`,
          time: ev.t,
          objects: file ? [idOf(epi), idOf(file)] : [idOf(epi)],
          evidence: [insert, ctl.ev, ev],
          message: `epitem 0x${ev.epi} (fd ${ev.fd}) added by pid ${insert.pid} (${insert.comm}) was removed by EPOLL_CTL_DEL in pid ${ev.pid} (${ev.comm})`,
        });
      },
    }),
};
