/** What the fsnotify family's events do to the World: mark phases, and permission waits in flight. */
import type { Effects, WorldState } from '../../lifetime/state.js';
import type { FsnotifyEvent, MarkDestroy, MarkDetach, MarkFree } from './events.js';

const PHASE = { 'mark.detach': 'detached', 'mark.destroy': 'destroyed', 'mark.free': 'dead' } as const;

function markTeardown(w: WorldState, ev: MarkDetach | MarkDestroy | MarkFree): void {
  const m = w.use(w.marks, ev.mark, ev);
  if (m) w.marks.setPhase(m, PHASE[ev.kind], ev);
}

export const fsnotifyEffects: Effects<FsnotifyEvent> = {
  'mark.add': (w, ev) => {
    const m = w.marks.birth(ev.mark, ev, 'attached');
    m.data.group = ev.group;
  },
  'mark.detach': markTeardown,
  'mark.destroy': markTeardown,
  'mark.free': markTeardown,
  'mark.put': (w, ev) => {
    const m = w.use(w.marks, ev.mark, ev);
    // Probably the last reference (the count is read at the put's entry): the free is mark.gone.
    if (m && ev.count === 1) w.marks.setPhase(m, 'last-ref', ev);
  },
  'mark.gone': (w, ev) => {
    const m = w.marks.get(ev.mark);
    if (m) w.marks.free(m, ev);
  },
  'perm.wait': (w, ev) => {
    for (const mark of ev.marks) w.use(w.marks, mark, ev);
    w.permWait.set(ev.tid, ev);
  },
  'perm.wait.done': (w, ev) => {
    w.permWait.delete(ev.tid);
  },
};
