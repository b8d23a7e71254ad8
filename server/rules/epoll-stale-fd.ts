import type { Addr, FdClose, KernelEvent } from '../model/events.js';
import type { World } from '../lifetime/world.js';
import { idOf, type FlagSink, type Rule } from './rule.js';

interface Pending {
  epi: Addr;
  file: Addr;
  close: FdClose;
  /** Already flagged (an event under the dead fd): the end of the capture adds nothing new. */
  reported: boolean;
}

export const epollStaleFd: Rule = {
  id: 'epoll.stale-fd',
  severity: 'warning',
  thread: '001',
  title: 'epitem outlives the fd number it was registered under',
  explanation:
    'epitems do not pin the fd, only <file, fd> as a key. When the registered fd is closed while the file ' +
    'stays open through another descriptor (dup, fork, SCM_RIGHTS), the epitem stays registered and epoll ' +
    'keeps reporting events under the dead fd number; EPOLL_CTL_DEL with the old number then fails. If the ' +
    'number is reused for another file meanwhile, events for one file are reported under the fd of another ' +
    '(error).',
  needs: { all: ['ins', 'fdc'], optional: ['fdi', 'poll'] },
  create: () => {
    const pending = new Map<Addr, Pending>();
    const byFd = new Map<string, Set<Addr>>();
    const fdKey = (pid: number, fd: number): string => `${pid}:${fd}`;

    function forget(epi: Addr): void {
      const p = pending.get(epi);
      if (p === undefined) return;
      pending.delete(epi);
      const k = fdKey(p.close.pid, p.close.fd);
      byFd.get(k)?.delete(epi);
      if (byFd.get(k)?.size === 0) byFd.delete(k);
    }

    function raise(world: World, out: FlagSink, p: Pending, ev: KernelEvent | undefined, severity: 'warning' | 'error', why: string): void {
      const epi = world.epitems.get(p.epi);
      const file = world.files.get(p.file);
      if (epi === undefined || file === undefined || file.data.release !== undefined) return;
      out.raise(epollStaleFd, {
        key: `${p.epi}#${epi.gen}:${severity}`,
        severity,
        time: (ev ?? p.close).t,
        objects: [idOf(epi), idOf(file)],
        evidence: [epi.data.insert, p.close, ev],
        message: `fd ${p.close.fd} of pid ${p.close.pid} was closed but its file 0x${p.file} stays registered (epitem 0x${p.epi}): ${why}`,
      });
    }

    return {
      on: ['fd.close', 'fd.install', 'ep.poll', 'ep.remove', 'file.release', 'file.freed'],
      stage: 'before',
      observe(ev, world, out) {
        switch (ev.kind) {
          case 'fd.close': {
            const entry = world.fds.get(ev.pid, ev.fd);
            const file = entry && world.files.get(entry.file);
            if (file === undefined) return;
            // Another descriptor (a dup, a fork's copy) still holding the file proves it stays alive.
            const holder = world.fds.otherHolder(file.addr, ev.pid, ev.fd);
            for (const epiAddr of file.data.epitems) {
              const epi = world.epitems.get(epiAddr);
              const ins = epi?.data.insert;
              if (ins === undefined || ins.pid !== ev.pid || ins.fd !== ev.fd) continue;
              const p: Pending = { epi: epiAddr, file: file.addr, close: ev, reported: false };
              pending.set(epiAddr, p);
              const k = fdKey(ev.pid, ev.fd);
              let s = byFd.get(k);
              if (s === undefined) byFd.set(k, (s = new Set()));
              s.add(epiAddr);
              if (holder !== undefined) {
                raise(world, out, p, holder.since, 'warning', `the file stays open as fd ${holder.fd} of pid ${holder.pid}`);
                p.reported = true;
              }
            }
            return;
          }
          case 'fd.install': {
            if (byFd.size === 0) return; // the common case: no key to build
            const set = byFd.get(fdKey(ev.pid, ev.fd));
            if (set === undefined) return;
            for (const epi of [...set]) {
              const p = pending.get(epi)!;
              if (p.file !== ev.file) raise(world, out, p, ev, 'error', `fd ${ev.fd} now names another file, 0x${ev.file}`);
              forget(epi);
            }
            return;
          }
          case 'ep.poll': {
            const p = pending.get(ev.epi);
            if (p === undefined) return;
            raise(world, out, p, ev, 'warning', 'epoll still polls it and reports events under the dead fd number');
            p.reported = true;
            return;
          }
          case 'ep.remove':
            forget(ev.epi);
            return;
          case 'file.release':
          case 'file.freed': {
            // The file is dying: its epitems are reaped by the final __fput, not left stale.
            const file = world.files.get(ev.file);
            if (file) for (const epi of file.data.epitems) forget(epi);
            return;
          }
        }
      },
      finish(world, out) {
        for (const p of pending.values()) {
          if (!p.reported) raise(world, out, p, undefined, 'warning', 'still registered when the capture ended');
        }
        pending.clear();
        byFd.clear();
      },
    };
  },
};
