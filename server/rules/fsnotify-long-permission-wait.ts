import { formatDuration, type Nanos } from '../model/time.js';
import type { KernelEvent, PermWait } from '../model/events.js';
import type { World } from '../lifetime/world.js';
import { idOf, type FlagSink, type Rule } from './rule.js';

export const fsnotifyLongPermissionWait: Rule = {
  id: 'fsnotify.long-permission-wait',
  severity: 'warning',
  thread: '002',
  title: 'permission event waited on user space longer than the threshold',
  explanation:
    'A fanotify permission event (FAN_OPEN_PERM, FAN_ACCESS_PERM...) blocks the opener until the listener ' +
    'answers. On kernels before v4.12 the wait sat inside fsnotify()\'s SRCU read section and stalled every ' +
    'mark teardown system-wide; since then it pins only its marks. A long wait is the window in which marks ' +
    'are torn down under the waiter, and an unresponsive listener hangs every opener. Threshold: ' +
    '--perm-wait-ms (default 100 ms).',
  needs: { all: ['pw', 'pw_r'] },
  create: (options) => {
    function raise(world: World, out: FlagSink, wait: PermWait, end: KernelEvent | undefined, until: Nanos): void {
      const waited = until - wait.t;
      const marks = wait.marks.map((m) => world.marks.get(m)).filter((m) => m !== undefined);
      out.raise(fsnotifyLongPermissionWait, {
        // One flag per mark (generation included: a mark's address is reused after its free).
        key: marks[0] ? `${marks[0].addr}#${marks[0].gen}` : wait.marks[0] ?? `pid${wait.pid}`,
        time: end?.t ?? until,
        objects: marks.map(idOf),
        evidence: [wait, end],
        message: `pid ${wait.pid} (${wait.comm}) waited ${formatDuration(waited)} for a permission decision${end ? '' : ' and was still waiting when the capture ended'}`,
      });
    }
    return {
      on: ['perm.wait.done'],
      stage: 'before',
      observe(ev, world, out) {
        const wait = world.permWait.get(ev.tid);
        if (wait !== undefined && ev.t - wait.t > options.permWaitNs) raise(world, out, wait, ev, ev.t);
      },
      finish(world, out, end) {
        for (const wait of world.permWait.values()) if (end - wait.t > options.permWaitNs) raise(world, out, wait, undefined, end);
      },
    };
  },
};
