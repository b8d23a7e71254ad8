/** What the tracefs family's events do to the World: eventfs directories, their removal and the opens below. */
import type { Effects } from '../../lifetime/state.js';
import { removeDentry } from '../dcache/effects.js';
import type { TracefsEvent } from './events.js';

export const tracefsEffects: Effects<TracefsEvent> = {
  'eventfs.create': (w, ev) => {
    const e = w.eventfs.birth(ev.ei, ev, 'live');
    e.data.name = ev.name;
  },
  'eventfs.remove': (w, ev) => {
    const e = w.use(w.eventfs, ev.ei, ev);
    if (e) {
      e.data.name ??= ev.name;
      e.data.removed ??= ev;
      w.eventfs.setPhase(e, 'removed', ev);
      // Its directory's dentry goes with it: opens below it are now uses after removal.
      const dir = e.data.dir && w.dentries.get(e.data.dir);
      if (dir) dir.data.removed ??= ev;
    }
  },
  'eventfs.lookup': (w, ev) => {
    const e = w.use(w.eventfs, ev.ei, ev);
    if (e) e.data.dir = ev.dir;
    w.useDentry(ev.dir, ev);
  },
  'eventfs.open': (w, ev) => {
    w.use(w.eventfs, ev.ei, ev);
    w.useDentry(ev.dentry, ev);
    w.useFile(ev.file, ev);
  },
  'tracefs.remove': removeDentry,
};
