/** What the dcache family's events do to the World: dentry phases, removals, and readdir walks. */
import type { Effects, WorldState } from '../../lifetime/state.js';
import type { DcacheEvent, DentryInvalidate, DentryPtyKill, DentryRemoveTree } from './events.js';
import type { TracefsRemove } from '../tracefs/events.js';

/** A removal of a dentry (and, for the rules, of what is below it). tracefs_remove() is one too. */
export function removeDentry(w: WorldState, ev: DentryPtyKill | DentryInvalidate | DentryRemoveTree | TracefsRemove): void {
  const d = w.useDentry(ev.dentry, ev, ev.parent);
  if (d) {
    d.data.removed ??= ev;
    w.dentries.setPhase(d, 'removed', ev);
  }
}

export const dcacheEffects: Effects<DcacheEvent> = {
  'dentry.alloc': (w, ev) => {
    const d = w.dentries.birth(ev.dentry, ev, 'live');
    d.data.parent = ev.parent;
    d.data.name = ev.name;
    d.data.removed = w.removalAbove(ev.parent);
    w.useDentry(ev.parent, ev);
  },
  'dentry.delete': (w, ev) => {
    const d = w.useDentry(ev.dentry, ev, ev.parent, ev.name);
    if (d) w.dentries.setPhase(d, ev.count === 1 ? 'negative' : 'unhashed', ev);
  },
  'dentry.ptykill': removeDentry,
  'dentry.invalidate': removeDentry,
  'dentry.rmtree': removeDentry,
  'dentry.put': (w, ev) => {
    const d = w.useDentry(ev.dentry, ev, ev.parent);
    if (d && ev.count === 1) {
      if (d.data.removed !== undefined || (d.data.removed = w.removalAbove(ev.parent)) !== undefined) d.data.zero = ev;
      w.dentries.setPhase(d, 'unused', ev);
    }
  },
  'dentry.kill': (w, ev) => {
    const d = w.useDentry(ev.dentry, ev, ev.parent);
    if (d) w.dentries.free(d, ev);
  },
  readdir: (w, ev) => {
    w.useDentry(ev.dir, ev);
    let m = w.readdir.get(ev.dir);
    if (m === undefined) w.readdir.set(ev.dir, (m = new Map()));
    m.set(ev.tid, ev);
  },
  'readdir.done': (w, ev) => {
    const m = w.readdir.get(ev.dir);
    if (m) {
      m.delete(ev.tid);
      if (m.size === 0) w.readdir.delete(ev.dir);
    }
  },
};
