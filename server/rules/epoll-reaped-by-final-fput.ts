import type { Addr, KernelEvent } from '../model/events.js';
import type { World } from '../lifetime/world.js';
import { idOf, type FlagSink, type Rule, watch } from './rule.js';

export const epollReapedByFinalFput: Rule = {
  id: 'epoll.reaped-by-final-fput',
  severity: 'info',
  mailingList: '000',
  title: 'epitem removed by the final __fput, never by EPOLL_CTL_DEL',
  explanation:
    'epitems do not pin their files: the last close of a watched file reaches __fput, whose ' +
    'eventpoll_release_file() unlinks the file from every epoll instance. This is the path that races with ' +
    'EPOLL_CTL_ADD loop checks (2020) and with ep_item_poll() (2024); it is normal, but it is where to look ' +
    'when those rules fire, and how often it happens under a workload.',
  needs: { all: ['ins', 'fput', 'fput_r'], optional: ['rel', 'rel_r', 'rm'] },
  create: () => {
    function raise(world: World, out: FlagSink, epiAddr: Addr, ev: KernelEvent): void {
      const epi = world.epitems.get(epiAddr);
      if (epi === undefined) return;
      const file = world.files.get(epi.data.file);
      const fput = world.fput.get(epi.data.file);
      out.raise(epollReapedByFinalFput, {
        // One flag per closing process, with a count: a server that closes its sockets without
        // EPOLL_CTL_DEL does this thousands of times, and each is the normal path.
        key: `${ev.pid}|${ev.comm}`,
        time: ev.t,
        objects: file ? [idOf(epi), idOf(file)] : [idOf(epi)],
        evidence: [epi.data.insert, fput, world.epRelease.get(ev.tid), ev],
        message: `epitem 0x${epiAddr} (fd ${epi.data.fd}) was reaped by eventpoll_release_file() in the final __fput of file 0x${epi.data.file}`,
      });
    }
    return watch({
      on: ['ep.remove', 'ep.release.done', 'file.freed'],
      stage: 'before',
      observe(ev, world, out) {
        if (ev.kind === 'ep.remove') {
          if (world.epRelease.get(ev.tid)?.file === ev.file) raise(world, out, ev.epi, ev);
        } else if (ev.kind === 'ep.release.done') {
          // Epitems that no removal probe reported (e.g. a kernel where the removal is inlined).
          for (const epi of world.files.get(ev.file)?.data.epitems ?? []) raise(world, out, epi, ev);
        } else {
          // The probes print the release itself only when its exact window matters; an __fput with
          // f_ep set that ends with epitems still on the file reaped them.
          const file = world.files.get(ev.file);
          if (file?.data.release?.hasEp) for (const epi of file.data.epitems) raise(world, out, epi, ev);
        }
      },
    });
  },
};
