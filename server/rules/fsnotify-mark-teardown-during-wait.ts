import { idOf, type Rule } from './rule.js';

export const fsnotifyMarkTeardownDuringWait: Rule = {
  id: 'fsnotify.mark-teardown-during-wait',
  severity: 'warning',
  thread: '002',
  title: 'fsnotify mark torn down while a permission event that pinned it waits on user space',
  explanation:
    'A fanotify permission event blocks in fanotify_get_response() until the listener answers. Since ' +
    'v4.12 (abc77577a669 and friends) fsnotify_prepare_user_wait() pins the marks and drops the SRCU read ' +
    'lock so that mark teardown is not stalled; the pinned mark can then be detached, destroyed or put to ' +
    'zero underneath the waiter, which must revalidate it in fsnotify_finish_user_wait(). Before the fix ' +
    'this ordering freed marks the waiter still walked.',
  needs: { all: ['pw', 'pw_r'], any: ['m_detach', 'm_destroy', 'm_free', 'm_put'] },
  create: () => ({
    on: ['mark.detach', 'mark.destroy', 'mark.free', 'mark.put'],
    stage: 'before',
    observe(ev, world, out) {
      if (ev.kind !== 'mark.detach' && ev.kind !== 'mark.destroy' && ev.kind !== 'mark.free' && ev.kind !== 'mark.put') return;
      if (ev.kind === 'mark.put' && ev.count !== 1) return; // only the put that drops it to zero
      for (const [tid, wait] of world.permWait) {
        if (tid === ev.tid || !wait.marks.includes(ev.mark)) continue;
        const mark = world.marks.get(ev.mark);
        out.raise(fsnotifyMarkTeardownDuringWait, {
          key: mark ? `${mark.addr}#${mark.gen}` : ev.mark,
          time: ev.t,
          objects: mark ? [idOf(mark)] : [],
          evidence: [mark?.born, wait, ev],
          message: `${ev.fn}() on mark 0x${ev.mark} in pid ${ev.pid} (${ev.comm}) while pid ${wait.pid} (${wait.comm}) waits on a permission event that pinned it`,
        });
        return;
      }
    },
  }),
};
