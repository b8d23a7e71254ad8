/** One-line, human-readable renderings of the fsnotify family's events (evidence and dumps). */
import { hex, type PerKind } from '../../model/event-shape.js';
import type { FsnotifyEvent } from './events.js';

export const describeFsnotify: PerKind<FsnotifyEvent, [], string> = {
  'mark.add': (ev) => `mark ${hex(ev.mark)} added to group ${hex(ev.group)}`,
  'mark.detach': (ev) => `mark ${hex(ev.mark)} detached`,
  'mark.destroy': (ev) => `mark ${hex(ev.mark)} destroyed`,
  'mark.free': (ev) => `mark ${hex(ev.mark)} freed (ALIVE cleared)`,
  'mark.gone': (ev) => `mark ${hex(ev.mark)} memory freed by its group's ->free_mark()`,
  'mark.put': (ev) => `fsnotify_put_mark(mark ${hex(ev.mark)}) count=${ev.count}`,
  'perm.wait': (ev) => `permission event waits on user space; pins marks ${ev.marks.map(hex).join(', ') || '(none)'}`,
  'perm.wait.done': (ev) => (ev.fn === 'sched_process_exit' ? 'the waiting task exited: its wait is over' : 'permission event answered'),
};
