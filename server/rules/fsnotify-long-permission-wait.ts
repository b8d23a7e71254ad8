import { formatDuration, type Nanos } from '../model/time.js';
import type { KernelEvent, PermWait } from '../model/events.js';
import { FIXES, formatFix, type Guard } from '../model/fixes.js';
import type { World } from '../lifetime/world.js';
import { idOf, type FlagSink, type Rule, watch } from './rule.js';

const FIX = formatFix(FIXES.abc77577a669);

export const fsnotifyLongPermissionWait: Rule = {
  id: 'fsnotify.long-permission-wait',
  severity: 'info',
  mailingList: '002',
  fix: FIX,
  title: 'permission event waited on user space longer than the threshold',
  explanation:
    'A fanotify permission event (FAN_OPEN_PERM, FAN_ACCESS_PERM...) blocks the opener until the listener ' +
    "answers. On kernels before v4.12 the wait sat inside fsnotify()'s SRCU read section and stalled every " +
    'mark teardown system-wide; since abc77577a669 it pins only its marks. A recorded wait is one that ' +
    'fix began, so a long wait is info: the listener is slow, and only its own openers wait. ' +
    'A wait begins when fsnotify_prepare_user_wait() returns true and ends at fsnotify_finish_user_wait() or ' +
    'when its task exits. Threshold: --perm-wait-ms (default 100 ms).',
  needs: { all: ['pw', 'pw_r'] },
  create: (options, context) => {
    function raise(world: World, out: FlagSink, wait: PermWait, end: KernelEvent | undefined, until: Nanos): void {
      const waited = until - wait.t;
      const marks = wait.marks.map((m) => world.marks.get(m)).filter((m) => m !== undefined);
      // A recorded wait is one fsnotify_prepare_user_wait() began (the probe prints it only when
      // it returned true): the fix's pinning is there, whatever the kernel's symbols said.
      const kernel = context.kernelGuard();
      const guard: Guard = {
        fix: FIX,
        state: 'yes',
        how:
          'observed: fsnotify_prepare_user_wait() returned true for this wait: its marks pinned by refcount, SRCU dropped' +
          (kernel.state === 'yes' ? `; ${kernel.how}` : ''),
      };
      const how =
        end === undefined
          ? ' and was still waiting when the capture ended'
          : end.fn === 'sched_process_exit'
            ? ' until the task exited'
            : '';
      out.raise(fsnotifyLongPermissionWait, {
        // One flag per mark (generation included: a mark's address is reused after its free).
        key: marks[0] ? `${marks[0].addr}#${marks[0].gen}` : (wait.marks[0] ?? `pid${wait.pid}`),
        severity: 'info',
        time: end?.t ?? until,
        objects: marks.map(idOf),
        evidence: [wait, end],
        message: `pid ${wait.pid} (${wait.comm}) waited ${formatDuration(waited)} for a permission decision${how}`,
        guard,
      });
    }
    return watch({
      on: ['perm.wait.done'],
      stage: 'before',
      observe(ev, world, out) {
        const wait = world.permWait.get(ev.tid);
        if (wait !== undefined && ev.t - wait.t > options.permWaitNs) raise(world, out, wait, ev, ev.t);
      },
      finish(world, out, end) {
        for (const wait of world.permWait.values()) if (end - wait.t > options.permWaitNs) raise(world, out, wait, undefined, end);
      },
    });
  },
};
