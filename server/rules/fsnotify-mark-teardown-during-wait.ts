import type { Addr, KernelEvent, MarkDestroy, MarkDetach, MarkFree, MarkGone, MarkPut, PermWait } from '../model/events.js';
import { FIXES, formatFix, type Guard } from '../model/fixes.js';
import type { ObjectId } from '../model/objects.js';
import { idOf, type Rule, type Severity, watch } from './rule.js';

const FIX = formatFix(FIXES.abc77577a669);

/** A wait in progress: the marks it pinned, each with its generation when pinned (addresses are reused). */
interface Wait {
  ev: PermWait;
  marks: Map<Addr, number | undefined>;
}

/**
 * The marks a permission event pins stay allocated until the waiter's fsnotify_finish_user_wait()
 * puts them: a detach, destroy or fsnotify_free_mark() (which only marks it dead) under the waiter
 * is the ordering the fix made safe (info: the probe saw fsnotify_prepare_user_wait() succeed, so the
 * fix's pinning is there); a put that drops a pinned mark to zero before the waiter's own put frees
 * it under the waiter: the dangerous step (error).
 */
export const fsnotifyMarkTeardownDuringWait: Rule = {
  id: 'fsnotify.mark-teardown-during-wait',
  severity: 'error',
  mailingList: '002',
  fix: FIX,
  title: 'fsnotify mark torn down while a permission event that pinned it waits on user space',
  explanation:
    'A fanotify permission event blocks in fanotify_get_response() until the listener answers. Since ' +
    'v4.12 (abc77577a669 and friends) fsnotify_prepare_user_wait() pins the marks by refcount and drops the ' +
    'SRCU read lock so that mark teardown is not stalled; a pinned mark can then be detached or destroyed ' +
    'underneath the waiter (fsnotify_free_mark() only marks it dead), and the waiter puts it in ' +
    'fsnotify_finish_user_wait(). That ordering is info: the fix guards it. A pinned mark freed (its ' +
    "group's ->free_mark()) before the waiter put it back is an error: it is freed under the waiter; a put " +
    'by another task that read the last reference is a warning (the count read can race with a get). Only waits that fsnotify_prepare_user_wait() really began count ' +
    '(it returned true); a wait ends at fsnotify_finish_user_wait() or when its task exits.',
  needs: { all: ['pw', 'pw_r'], any: ['m_detach', 'm_destroy', 'm_free', 'm_put', 'm_gone'] },
  create: (_options, context) => {
    const waits = new Map<number, Wait>();
    return watch({
      on: ['perm.wait', 'perm.wait.done', 'mark.detach', 'mark.destroy', 'mark.free', 'mark.put', 'mark.gone'],
      stage: 'before',
      observe(ev, world, out) {
        if (ev.kind === 'perm.wait') {
          waits.set(ev.tid, { ev, marks: new Map(ev.marks.map((m) => [m, world.marks.get(m)?.gen])) });
          return;
        }
        if (ev.kind === 'perm.wait.done') {
          waits.delete(ev.tid);
          return;
        }
        if (ev.kind === 'mark.put' && ev.count !== 1) return; // only a put that read the last reference
        const mark = world.marks.get(ev.mark);
        // The reaper frees the mark; who dropped it is the task whose put read the last reference.
        const dropper = ev.kind === 'mark.gone' ? mark?.phases.findLast((p) => p.phase === 'last-ref')?.pid : undefined;
        for (const [tid, wait] of waits) {
          if (tid === ev.tid || dropper === wait.ev.pid || !wait.marks.has(ev.mark)) continue;
          // The same generation: a mark the wait pinned, not a later one at the same address.
          const gen = wait.marks.get(ev.mark);
          if (gen !== undefined && mark !== undefined && mark.gen !== gen) continue;
          raise(ev, wait.ev, mark && idOf(mark), mark?.born, context.kernelGuard());
          return;
        }
        function raise(
          e: MarkDetach | MarkDestroy | MarkFree | MarkPut | MarkGone,
          w: PermWait,
          id: ObjectId | undefined,
          born: KernelEvent | undefined,
          kernel: Guard,
        ): void {
          // fsnotify_free_mark() only marks it dead; the memory goes in the group's ->free_mark()
          // (mark.gone): that under a waiter is the use-after-free the fix prevents. A put that read
          // the last reference at its entry may still race with a get: the window, not the free.
          const freed = e.kind === 'mark.gone';
          const lastPut = e.kind === 'mark.put';
          const severity: Severity = freed ? 'error' : lastPut ? 'warning' : 'info';
          // The wait itself shows the fix: only a kernel with it has fsnotify_prepare_user_wait().
          const guard: Guard = {
            fix: FIX,
            state: 'yes',
            how:
              'observed: fsnotify_prepare_user_wait() returned true for this wait: its marks pinned by refcount, SRCU dropped' +
              (kernel.state === 'yes' ? `; ${kernel.how}` : ''),
          };
          const step = freed
            ? `mark 0x${e.mark} was freed (${e.fn}())`
            : lastPut
              ? `${e.fn}() read the last reference of mark 0x${e.mark}`
              : `${e.fn}() on mark 0x${e.mark}`;
          out.raise(fsnotifyMarkTeardownDuringWait, {
            key: id ? `${id.addr}#${id.gen}` : e.mark,
            severity,
            time: e.t,
            objects: id ? [id] : [],
            evidence: [born, w, e],
            message:
              `${step} in pid ${e.pid} (${e.comm}) while pid ${w.pid} (${w.comm}) waits on a permission event that pinned it` +
              (freed
                ? ': the waiter will use it after the wait'
                : lastPut
                  ? ": if no get came between, the waiter's pin is gone"
                  : ' (the waiter revalidates it after the wait)'),
            guard,
          });
        }
      },
    });
  },
};
