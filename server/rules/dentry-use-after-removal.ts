import type { KernelEvent } from '../model/events.js';
import { FIXES, formatFix } from '../model/fixes.js';
import type { ObjectId } from '../model/objects.js';
import { type Guard, idOf, type Rule, type Severity, watch } from './rule.js';

/**
 * Severity by what the evidence shows. A lookup or open below a removed eventfs directory is the
 * 2024 thread's dangerous step on a kernel without 43aa6f97c2d0 (error), the guarded ordering on
 * one with it (info), else a warning. Any other removed dentry reached again (tmpfs, debugfs, /proc
 * after d_invalidate...) is a warning: each filesystem has its own guard against it (debugfs's
 * SRCU, proc's pde users), which lifetrace does not see.
 */
export const dentryUseAfterRemoval: Rule = {
  id: 'dentry.use-after-removal',
  severity: 'error',
  mailingList: '004',
  fix: formatFix(FIXES['43aa6f97c2d0']),
  title: 'dentry looked up, opened or referenced after it or its directory was removed',
  explanation:
    'Dentries are caches: after simple_recursive_removal(), d_invalidate() or eventfs_remove_dir() the ' +
    'dentries below stay allocated while anyone holds them, and a path walk that found one earlier can still ' +
    'open it. For eventfs that open calls back into tracing code whose event (a removed kprobe) is already ' +
    'freed: the 2024 eventfs thread, fixed in v6.8 (43aa6f97c2d0 and the series around it) by making ' +
    'tracefs_d_revalidate() fail for a freed eventfs inode and tracing_open_file_tr() return -ENODEV. ' +
    'Below a removed eventfs directory: error on a kernel without the fix (eventfs without eventfs_d_release()), ' +
    'info on one with it, warning when lifetrace cannot tell. Below any other removed directory: warning, ' +
    'since each filesystem guards its own removed files in ways the probes do not see.',
  needs: { any: ['rrm', 'd_inval', 'efs_rm', 'tfs_rm'], optional: ['open', 'd_alloc', 'efs_open', 'efs_lookup'] },
  create: (_options, context) =>
    watch({
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
            what =
              ev.kind === 'eventfs.open'
                ? `open of an event file in removed eventfs dir "${ei?.data.name ?? '?'}"`
                : `lookup of "${ev.name}" in removed eventfs dir "${ei?.data.name ?? '?'}"`;
            break;
          }
        }
        if (removal === undefined || removal.t > ev.t || subject === undefined) return;
        let severity: Severity = 'warning';
        let guard: Guard;
        if (removal.kind === 'eventfs.remove') {
          guard = context.kernelGuard();
          severity = guard.state === 'no' ? 'error' : guard.state === 'yes' ? 'info' : 'warning';
        } else {
          guard = {
            fix: "the removing filesystem's own guard",
            state: 'unknown' as const,
            how: `removed by ${removal.fn}(), not by eventfs (43aa6f97c2d0 does not apply): the probes do not see how this filesystem refuses its removed files`,
          };
        }
        out.raise(dentryUseAfterRemoval, {
          key: `${subject.kind}:${subject.addr}#${subject.gen}`,
          severity,
          time: ev.t,
          objects: [subject],
          evidence: [removal, ev],
          message: `${what} in pid ${ev.pid} (${ev.comm}) after ${removal.fn}() in pid ${removal.pid}`,
          guard,
        });
      },
    }),
};
