import type { Addr, EpPoll, KernelEvent, TargetPoll } from '../model/events.js';
import type { World } from '../lifetime/world.js';
import { idOf, type FlagSink, type Guard, type Rule, type Severity, watch } from './rule.js';

const FIX = '4efaa5acf0a1 (epoll: be better about file lifetimes, v6.9; CVE-2024-38580)';

/** A watched ep_item_poll() call: entered on a file whose count was at or below zero, or dying. */
interface Watched {
  entry: EpPoll;
  /** The file's ->poll() seen entered inside it with a count above zero (not the dangerous step). */
  polledAlive?: TargetPoll;
  /** Already flagged as the dangerous step (a ->poll() entered with the count at zero). */
  done: boolean;
}

/** Why the file counts as dying, for the message: what the evidence shows at the entry. */
function dyingState(world: World, ev: EpPoll): string {
  const fput = world.fput.get(ev.file);
  if (fput !== undefined) return `its final __fput() was running in pid ${fput.pid} (${fput.comm})`;
  if (ev.count <= 0) return `its f_count was ${ev.count}`;
  return 'its last reference was being dropped';
}

export const epollPollOnDyingFile: Rule = {
  id: 'epoll.poll-on-dying-file',
  severity: 'error',
  mailingList: '001',
  fix: FIX,
  title: 'epoll called ->poll() on a file whose last reference is gone',
  explanation:
    "Before v6.9, ep_item_poll() called the target's ->poll() through epi->ffd.file without holding a " +
    'reference. Once the count has reached zero, __fput() may be tearing the file down (->release has freed ' +
    'private_data, e.g. a dma-buf) until eventpoll_release_file() takes the epitem off. 4efaa5acf0a1 takes a ' +
    'reference with epi_fget() first and returns without calling ->poll() when the count is already zero. ' +
    "lifetrace watches every ep_item_poll() on a file at count zero and probes the targets' ->poll() " +
    '(pipe, socket, eventfd, timerfd, signalfd): error when ->poll() was entered at count zero, info when the ' +
    "call returned without it (the fix at work), warning when that file's ->poll() is not probed.",
  needs: { all: ['ins', 'poll', 'fput'], optional: ['poll_r', 'tpoll', 'last', 'rel'] },
  create: () => {
    const watched = new Map<number, Watched>();

    function raise(
      world: World,
      out: FlagSink,
      file: Addr,
      epi: Addr | undefined,
      ev: KernelEvent,
      severity: Severity,
      guard: Guard,
      message: string,
      entry?: EpPoll,
    ): void {
      const f = world.files.get(file);
      const e = epi === undefined ? undefined : world.epitems.get(epi);
      const fput = world.fput.get(file);
      // The guard seen at work is one flag per process and ->poll() (it can happen thousands of
      // times); what the kernel did wrong, or could not be told, is one flag per file.
      const key = severity === 'info' ? `guard:${ev.pid}:${guard.how}` : f ? `${f.addr}#${f.gen}` : file;
      out.raise(epollPollOnDyingFile, {
        key,
        severity,
        time: ev.t,
        objects: [...(f ? [idOf(f)] : []), ...(e ? [idOf(e)] : [])],
        evidence: [f?.data.lastRef, fput, world.epRelease.get(fput?.tid ?? -1), entry, ev],
        message,
        guard,
      });
    }

    /** A watched call whose end never came (a loss, or a capture without poll_r): nothing is known. */
    function unknown(world: World, out: FlagSink, w: Watched, ev: KernelEvent): void {
      if (w.done || w.entry.count > 0) return;
      raise(
        world,
        out,
        w.entry.file,
        w.entry.epi,
        ev,
        'warning',
        { fix: FIX, state: 'unknown', how: 'the end of ep_item_poll() was not recorded' },
        `ep_item_poll() was entered in pid ${w.entry.pid} (${w.entry.comm}) on file 0x${w.entry.file} whose f_count was ` +
          `${w.entry.count}; whether the file's ->poll() ran was not recorded`,
        w.entry,
      );
    }

    return watch({
      on: ['ep.poll', 'ep.poll.done', 'target.poll'],
      stage: 'before',
      observe(ev, world, out) {
        switch (ev.kind) {
          case 'ep.poll': {
            const phase = world.files.get(ev.file)?.phase;
            const dying = ev.count <= 0 || phase === 'last-ref' || phase === 'releasing';
            const prev = watched.get(ev.tid);
            if (prev !== undefined) {
              // A nested ep_item_poll() (an epoll target's items) or a lost end: the earlier call
              // keeps its own outcome only if its end comes; here it did not.
              unknown(world, out, prev, ev);
              watched.delete(ev.tid);
            }
            if (dying) watched.set(ev.tid, { entry: ev, done: false });
            return;
          }
          case 'target.poll': {
            const w = watched.get(ev.tid);
            const entry = w !== undefined && w.entry.file === ev.file ? w : undefined;
            if (ev.count > 0) {
              if (entry && ev.inside) entry.polledAlive = ev;
              return;
            }
            // The dangerous step itself: ->poll() entered on a file whose count is zero.
            if (entry) entry.done = true;
            const where = ev.inside ? ' inside ep_item_poll()' : '';
            const state = entry ? `; ${dyingState(world, entry.entry)} when ep_item_poll() was entered` : '';
            raise(
              world,
              out,
              ev.file,
              entry?.entry.epi,
              ev,
              'error',
              { fix: FIX, state: 'no', how: `observed: ${ev.pollFn}() entered with f_count ${ev.count}` },
              `${ev.pollFn}() of file 0x${ev.file} was entered${where} in pid ${ev.pid} (${ev.comm}) while its f_count was ${ev.count}${state}`,
              entry?.entry,
            );
            return;
          }
          case 'ep.poll.done': {
            const w = watched.get(ev.tid);
            if (w === undefined || w.entry.file !== ev.file) return;
            watched.delete(ev.tid);
            if (w.done) return;
            const entry = w.entry;
            const state = dyingState(world, entry);
            if (!ev.polled && ev.probed) {
              // The file's probed ->poll() never ran: epi_fget() found the count at zero (a kernel
              // without the fix calls vfs_poll() unconditionally).
              raise(
                world,
                out,
                ev.file,
                ev.epi,
                ev,
                'info',
                { fix: FIX, state: 'yes', how: `observed: ep_item_poll() returned without calling ${ev.pollFn}()` },
                `ep_item_poll() in pid ${ev.pid} (${ev.comm}) returned without calling ${ev.pollFn}() of file 0x${ev.file}: ` +
                  `${state} when it was entered (the epi_fget() check of 4efaa5acf0a1 at work)`,
                entry,
              );
            } else if (!ev.polled && entry.count <= 0) {
              raise(
                world,
                out,
                ev.file,
                ev.epi,
                ev,
                'warning',
                { fix: FIX, state: 'unknown', how: `${ev.pollFn || 'its ->poll()'} is not probed` },
                `ep_item_poll() was entered in pid ${ev.pid} (${ev.comm}) on file 0x${ev.file} while ${state}; ` +
                  `its ->poll() (${ev.pollFn || 'unknown'}) is not probed, so whether it ran is not known`,
                entry,
              );
            }
            // Otherwise ->poll() ran on a file whose count was still above zero: nothing dangerous seen.
            return;
          }
        }
      },
      finish(world, out) {
        for (const w of watched.values()) unknown(world, out, w, w.entry);
        watched.clear();
      },
    });
  },
};
