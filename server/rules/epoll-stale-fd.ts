import type { Addr, FdClosed, KernelEvent } from '../model/events.js';
import type { FdEntry } from '../lifetime/fdtable.js';
import type { World } from '../lifetime/world.js';
import { idOf, type FlagSink, type Rule, watch } from './rule.js';

/** A registered fd number that was closed (close(2), dup2/dup3 over it, its process's exit). */
interface Pending {
  epi: Addr;
  file: Addr;
  pid: number;
  fd: number;
  /** The close (or the exit that closed it). */
  close: KernelEvent;
  /** The close's end, when recorded: the count the file was left with (above zero here). */
  closed?: FdClosed;
  /** Another descriptor that held the file when the fd was closed (a dup, a fork's copy). */
  holder?: FdEntry;
  /** Already flagged: the end of the capture adds nothing new. */
  reported: boolean;
}

/** How the fd was closed, when not by close(2) or dup2/dup3. */
const HOW: Partial<Record<KernelEvent['kind'], string>> = {
  'task.exit': ' by its exit',
  'fd.close.range': ' by close_range()',
  'fd.cloexec': ' at execve (close-on-exec)',
};

export const epollStaleFd: Rule = {
  id: 'epoll.stale-fd',
  severity: 'warning',
  mailingList: '001',
  title: 'epitem outlives the fd number it was registered under',
  explanation:
    'epitems do not pin the fd, only <file, fd> as a key. When the registered fd is closed (close, dup2 or ' +
    'dup3 over it, close_range, close-on-exec at execve, exit) while the file stays open through another reference (dup, fork, SCM_RIGHTS), the ' +
    'epitem stays registered and epoll keeps reporting events under the dead fd number; EPOLL_CTL_DEL with ' +
    'the old number then fails, and if the number is reused, events for one file come under the fd of ' +
    'another. Flagged only when the file is shown to outlive the close (another descriptor holds it, or the ' +
    "close left its count above zero) and stays registered; not when the close started the file's final " +
    '__fput, nor when another process sharing the epoll instance still has that fd number open on the file.',
  needs: { all: ['ins', 'fdc'], optional: ['fdc_r', 'dupc', 'fdcr', 'cloexec', 'fdi', 'poll', 'exit'] },
  create: () => {
    const pending = new Map<Addr, Pending>();
    /** The epoll fd each epitem was added through (its EPOLL_CTL_ADD), in the adding process. */
    const epfdOf = new Map<Addr, number>();
    const byFd = new Map<string, Set<Addr>>();
    const fdKey = (pid: number, fd: number): string => `${pid}:${fd}`;

    function forget(epi: Addr): void {
      const p = pending.get(epi);
      if (p === undefined) return;
      pending.delete(epi);
      const k = fdKey(p.pid, p.fd);
      byFd.get(k)?.delete(epi);
      if (byFd.get(k)?.size === 0) byFd.delete(k);
    }

    /** One pending close per epitem: a later one replaces it in both maps (never a key left behind). */
    function track(p: Pending): void {
      forget(p.epi);
      pending.set(p.epi, p);
      const k = fdKey(p.pid, p.fd);
      let s = byFd.get(k);
      if (s === undefined) byFd.set(k, (s = new Set()));
      s.add(p.epi);
    }

    /** Still alive and registered, and the number dead for every process that holds the file. */
    function stale(world: World, p: Pending): boolean {
      const epi = world.epitems.get(p.epi);
      const file = world.files.get(p.file);
      if (epi === undefined || file === undefined || file.phase !== 'live') return false;
      // A process sharing the epoll instance (a forked child) that still has this fd number open
      // on the same file receives its events under a number that is not dead for it.
      return !world.fds.holdersOf(p.file).some((h) => h.fd === p.fd && h.pid !== p.pid);
    }

    /** What shows the file outlived the close, for the message; undefined when nothing does. */
    function outlived(p: Pending): string | undefined {
      if (p.holder) return `the file stays open as fd ${p.holder.fd} of pid ${p.holder.pid}`;
      if (p.closed) return `the close left the file with count ${p.closed.count}`;
      return undefined;
    }

    /** `reused`: the fd number now names another file (its own flag: the sharper confusion). */
    function raise(world: World, out: FlagSink, p: Pending, ev: KernelEvent | undefined, why: string, reused = false): void {
      const epi = world.epitems.get(p.epi);
      const file = world.files.get(p.file);
      if (epi === undefined || file === undefined) return; // stale() said both live: never here
      out.raise(epollStaleFd, {
        key: `${p.epi}#${epi.gen}${reused ? ':reused' : ''}`,
        time: (ev ?? p.close).t,
        objects: [idOf(epi), idOf(file)],
        evidence: [epi.data.insert, p.close, p.closed, p.holder?.since, ev],
        message:
          `fd ${p.fd} of pid ${p.pid} was closed${HOW[p.close.kind] ?? (p.close.fn.startsWith('dup') ? ` by ${p.close.fn}()` : '')} ` +
          `but its file 0x${p.file} stays registered (epitem 0x${p.epi}): ${why}`,
      });
      p.reported = true;
    }

    /**
     * The registered fd (pid, fd) naming `file` is gone: its epitems are pending. `keepsEp` says
     * whether the epoll fd the epitem was added through survives the same event: a close_range,
     * an execve or an exit may close the epoll instance too, and with it the epitem (then only
     * later evidence counts).
     */
    function closed(
      world: World,
      out: FlagSink,
      pid: number,
      fd: number,
      file: Addr,
      ev: KernelEvent,
      others: (h: FdEntry) => boolean,
      keepsEp: (epfd: number | undefined) => boolean,
    ): void {
      const f = world.files.get(file);
      if (f === undefined) return;
      const holder = world.fds.holdersOf(file).find(others);
      for (const epiAddr of f.data.epitems) {
        const ins = world.epitems.get(epiAddr)?.data.insert;
        if (ins === undefined || ins.pid !== pid || ins.fd !== fd) continue;
        const p: Pending = { epi: epiAddr, file, pid, fd, close: ev, reported: false };
        if (holder !== undefined) p.holder = holder;
        track(p);
        if (holder !== undefined && keepsEp(epfdOf.get(epiAddr)) && stale(world, p)) raise(world, out, p, undefined, outlived(p)!);
      }
    }

    return watch({
      on: [
        'ep.insert',
        'fd.close',
        'fd.closed',
        'fd.close.range',
        'fd.cloexec',
        'fd.install',
        'task.exit',
        'ep.poll',
        'ep.remove',
        'file.lastref',
        'file.release',
        'file.freed',
      ],
      stage: 'before',
      observe(ev, world, out) {
        switch (ev.kind) {
          case 'ep.insert': {
            // Registered again at this address (its removal unseen, e.g. lost): a new epitem, whatever the old one waited for.
            if (world.epitems.get(ev.epi)?.data.file !== ev.file) forget(ev.epi);
            const c = world.ctl.get(ev.tid);
            if (c !== undefined) epfdOf.set(ev.epi, c.ev.epfd);
            return;
          }
          case 'fd.close': {
            // close(2) or dup2/dup3 over the fd: one fd, never the epoll fd at the same time.
            const entry = world.fds.get(ev.pid, ev.fd);
            if (entry !== undefined)
              closed(
                world,
                out,
                ev.pid,
                ev.fd,
                entry.file,
                ev,
                (h) => h.pid !== ev.pid || h.fd !== ev.fd,
                () => true,
              );
            return;
          }
          case 'fd.close.range':
          case 'fd.cloexec': {
            const closes = ev.kind === 'fd.cloexec' ? new Set(ev.fds) : undefined;
            const gone = (fd: number): boolean =>
              closes ? closes.has(fd) : ev.kind === 'fd.close.range' && fd >= ev.first && fd <= ev.last;
            for (const e of world.fds.entries(ev.pid)) {
              if (gone(e.fd))
                closed(
                  world,
                  out,
                  ev.pid,
                  e.fd,
                  e.file,
                  ev,
                  (h) => h.pid !== ev.pid || !gone(h.fd),
                  (epfd) => epfd !== undefined && !gone(epfd),
                );
            }
            return;
          }
          case 'task.exit':
            // Every fd of the process closes (its epoll fds too): only descriptors of other
            // processes can keep a file, and only later evidence shows the epitem stayed.
            for (const e of world.fds.entries(ev.pid))
              closed(
                world,
                out,
                ev.pid,
                e.fd,
                e.file,
                ev,
                (h) => h.pid !== ev.pid,
                () => false,
              );
            return;
          case 'fd.closed': {
            for (const epi of [...(byFd.get(fdKey(ev.pid, ev.fd)) ?? [])]) {
              const p = pending.get(epi);
              if (p === undefined || p.file !== ev.file) continue;
              // The close dropped the last reference: the final __fput reaps the epitem.
              if (ev.count <= 0) forget(epi);
              else p.closed = ev;
            }
            return;
          }
          case 'fd.install': {
            if (byFd.size === 0) return; // the common case: no key to build
            const set = byFd.get(fdKey(ev.pid, ev.fd));
            if (set === undefined) return;
            for (const epi of [...set]) {
              const p = pending.get(epi);
              if (p === undefined) continue;
              const why = outlived(p);
              if (p.file !== ev.file && why !== undefined && stale(world, p)) {
                raise(world, out, p, ev, `${why}, and fd ${ev.fd} now names another file, 0x${ev.file}`, true);
              }
              forget(epi);
            }
            return;
          }
          case 'ep.poll': {
            const p = pending.get(ev.epi);
            if (p === undefined || ev.count <= 0) return;
            const why = outlived(p);
            if (why !== undefined && stale(world, p)) raise(world, out, p, ev, `${why}, and epoll still polls it after the close`);
            return;
          }
          case 'ep.remove':
            forget(ev.epi);
            epfdOf.delete(ev.epi);
            return;
          case 'file.lastref':
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
          // Never released while the capture lasted: the file outlived the close.
          if (!p.reported && stale(world, p))
            raise(
              world,
              out,
              p,
              undefined,
              `${outlived(p) ?? 'the file was not released'}, and it was still registered when the capture ended`,
            );
        }
        pending.clear();
        byFd.clear();
        epfdOf.clear();
      },
    });
  },
};
