import type { KernelEvent } from '../model/events.js';
import type { ObjectId } from '../model/objects.js';
import { idOf, type Rule } from './rule.js';

export const dentryUseAfterRemoval: Rule = {
  id: 'dentry.use-after-removal',
  severity: 'error',
  thread: '004',
  title: 'dentry looked up, opened or referenced after it or its directory was removed',
  explanation:
    'Dentries are caches: after simple_recursive_removal(), d_invalidate() or eventfs_remove_dir() the ' +
    'dentries below stay allocated while anyone holds them, and a path walk that found one earlier can still ' +
    'open it. For eventfs that open calls back into tracing code whose event (a removed kprobe) is already ' +
    'freed: the 2024 eventfs thread, fixed in v6.8 (43aa6f97c2d0 and the series around it) by making ' +
    'tracefs_d_revalidate() fail for a freed eventfs inode and tracing_open_file_tr() return -ENODEV.',
  needs: { any: ['rrm', 'd_inval', 'efs_rm', 'tfs_rm'], optional: ['open', 'd_alloc', 'efs_open', 'efs_lookup'] },
  create: () => ({
    on: ['file.open', 'dentry.alloc', 'eventfs.lookup', 'eventfs.open'],
    stage: 'before',
    observe(ev, world, out) {
      let removal: KernelEvent | undefined;
      let subject: ObjectId | undefined;
      let what = '';
      switch (ev.kind) {
        case 'file.open': {
          const d = world.dentries.get(ev.dentry);
          removal = d?.data.removed ?? world.removalAbove(ev.parent);
          const s = d ?? world.dentries.get(ev.parent);
          subject = s && idOf(s);
          what = `open of dentry 0x${ev.dentry}${d?.data.name ? ` "${d.data.name}"` : ''}`;
          break;
        }
        case 'dentry.alloc':
          removal = world.removalAbove(ev.parent);
          subject = world.dentries.get(ev.parent) && idOf(world.dentries.get(ev.parent)!);
          what = `lookup of "${ev.name}" in removed directory 0x${ev.parent}`;
          break;
        case 'eventfs.lookup':
        case 'eventfs.open': {
          const ei = world.eventfs.get(ev.ei);
          removal = ei?.data.removed;
          subject = ei && idOf(ei);
          what = ev.kind === 'eventfs.open'
            ? `open of an event file in removed eventfs dir "${ei?.data.name ?? '?'}"`
            : `lookup of "${ev.name}" in removed eventfs dir "${ei?.data.name ?? '?'}"`;
          break;
        }
        default:
          return;
      }
      if (removal === undefined || removal.t > ev.t || subject === undefined) return;
      out.raise(dentryUseAfterRemoval, {
        key: `${subject.kind}:${subject.addr}#${subject.gen}`,
        time: ev.t,
        objects: [subject],
        evidence: [removal, ev],
        message: `${what} in pid ${ev.pid} (${ev.comm}) after ${removal.fn}() in pid ${removal.pid}`,
      });
    },
  }),
};
