import { idOf, type Rule } from './rule.js';
import type { ObjectId } from '../model/objects.js';

export const dcacheReaddirVsDelete: Rule = {
  id: 'dcache.readdir-vs-delete',
  severity: 'warning',
  thread: '003',
  title: 'child removed while another task is inside dcache_readdir() on its parent',
  explanation:
    "dcache_readdir() walks the parent's child list relying on the directory lock to keep children from " +
    'going away. Anything that removes a child without that lock (devpts_pty_kill() on pty close, selinuxfs, ' +
    'eviction under memory pressure) can leave the walker on a dentry with a NULL d_inode or a freed name. ' +
    'A tmpfs unlink cannot show this (it holds the directory lock); /dev/pts can. Fixed for devpts and the ' +
    'lockless traversal in v5.4 (d4f4de5e5ef8, 26b6c9843384).',
  needs: { all: ['rd', 'rd_r'], any: ['d_del', 'd_kill', 'pty_kill'] },
  create: () => ({
    on: ['dentry.delete', 'dentry.kill', 'dentry.ptykill'],
    stage: 'before',
    observe(ev, world, out) {
      if (ev.kind !== 'dentry.delete' && ev.kind !== 'dentry.kill' && ev.kind !== 'dentry.ptykill') return;
      const walkers = world.readdir.get(ev.parent);
      if (walkers === undefined) return;
      for (const [tid, rd] of walkers) {
        if (tid === ev.tid) continue;
        const dir = world.dentries.get(ev.parent);
        const child = world.dentries.get(ev.dentry);
        const objects: ObjectId[] = [];
        if (dir) objects.push(idOf(dir));
        if (child) objects.push(idOf(child));
        out.raise(dcacheReaddirVsDelete, {
          key: dir ? `${dir.addr}#${dir.gen}` : ev.parent,
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
