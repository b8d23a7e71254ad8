/** One-line, human-readable renderings of the tracefs family's events (evidence and dumps). */
import { hex, type PerKind } from '../../model/event-shape.js';
import type { TracefsEvent } from './events.js';

export const describeTracefs: PerKind<TracefsEvent, [], string> = {
  'eventfs.create': (ev) => `eventfs dir "${ev.name}" ${hex(ev.ei)} created`,
  'eventfs.remove': (ev) => `eventfs dir "${ev.name}" ${hex(ev.ei)} removed`,
  'eventfs.lookup': (ev) => `lookup "${ev.name}" in eventfs dir ${hex(ev.ei)}`,
  'eventfs.open': (ev) => `open of event file (dentry ${hex(ev.dentry)}) in eventfs dir ${hex(ev.ei)}`,
  'tracefs.remove': (ev) => `tracefs_remove(dentry ${hex(ev.dentry)})`,
};
