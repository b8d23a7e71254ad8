/** One-line, human-readable renderings of the dcache family's events (evidence and dumps). */
import { hex, type PerKind } from '../../model/event-shape.js';
import type { DcacheEvent } from './events.js';

export const describeDcache: PerKind<DcacheEvent, [], string> = {
  'dentry.alloc': (ev) => `dentry ${hex(ev.dentry)} "${ev.name}" allocated under ${hex(ev.parent)}`,
  'dentry.delete': (ev) => `d_delete(dentry ${hex(ev.dentry)} "${ev.name}") count=${ev.count} parent ${hex(ev.parent)}`,
  'dentry.kill': (ev) => `__dentry_kill(dentry ${hex(ev.dentry)}) count=${ev.count} parent ${hex(ev.parent)}`,
  'dentry.ptykill': (ev) => `devpts_pty_kill(dentry ${hex(ev.dentry)}) parent ${hex(ev.parent)}`,
  'dentry.invalidate': (ev) => `d_invalidate(dentry ${hex(ev.dentry)})`,
  'dentry.rmtree': (ev) => `simple_recursive_removal(dentry ${hex(ev.dentry)})`,
  'dentry.put': (ev) => `dput(dentry ${hex(ev.dentry)}) count=${ev.count}`,
  readdir: (ev) => `dcache_readdir(dir ${hex(ev.dir)}) begins`,
  'readdir.done': (ev) => `dcache_readdir(dir ${hex(ev.dir)}) returns`,
};
