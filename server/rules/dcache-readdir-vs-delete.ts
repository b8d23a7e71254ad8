import { idOf, type Rule, watch } from './rule.js';
import { FIXES, formatFix } from '../model/fixes.js';
import type { ObjectId } from '../model/objects.js';

export const dcacheReaddirVsDelete: Rule = {
  id: 'dcache.readdir-vs-delete',
  severity: 'warning',
  mailingList: '003',
  fix: formatFix(FIXES.d4f4de5e5ef8),
  title: 'child removed while another task is inside dcache_readdir() on its parent',
  explanation:
    "dcache_readdir() walks the parent's child list relying on the directory lock to keep children from " +
    'going away. Anything that removes a child without that lock (devpts_pty_kill() on pty close, selinuxfs, ' +
    'eviction under memory pressure) can leave the walker on a dentry with a NULL d_inode or a freed name. ' +
    'A tmpfs unlink cannot show this (it holds the directory lock); /dev/pts can. Fixed for devpts and the ' +
    'lockless traversal in v5.4 (d4f4de5e5ef8, 26b6c9843384): scan_positives() walks the children under the ' +
    "parent's d_lock and pins the one it returns. On a kernel lifetrace finds the fix in (scan_positives() " +
    'among its functions) the ordering is info; otherwise a warning: the window opened, and lifetrace does ' +
    'not see where the walker stood (a walker on the removed child itself would be the dangerous step).',
  needs: { all: ['rd', 'rd_r'], any: ['d_del', 'd_kill', 'pty_kill'] },
  create: (_options, context) =>
    watch({
      on: ['dentry.delete', 'dentry.kill', 'dentry.ptykill'],
      stage: 'before',
      observe(ev, world, out) {
        const walkers = world.readdir.get(ev.parent);
        if (walkers === undefined) return;
        for (const [tid, rd] of walkers) {
          if (tid === ev.tid) continue;
          const dir = world.dentries.get(ev.parent);
          const child = world.dentries.get(ev.dentry);
          const objects: ObjectId[] = [];
          if (dir) objects.push(idOf(dir));
          if (child) objects.push(idOf(child));
          const guard = context.kernelGuard();
          out.raise(dcacheReaddirVsDelete, {
            key: dir ? `${dir.addr}#${dir.gen}` : ev.parent,
            severity: guard.state === 'yes' ? 'info' : 'warning',
            time: ev.t,
            objects,
            evidence: [rd, ev],
            message: `${ev.fn}() of dentry 0x${ev.dentry}${child?.data.name ? ` "${child.data.name}"` : ''} in pid ${ev.pid} (${ev.comm}) while pid ${rd.pid} (${rd.comm}) was inside dcache_readdir() on its parent 0x${ev.parent}`,
          });
          return;
        }
      },
    }),
};
