/** probes/dcache.bt: dentry births, deletes, kills, removals, readdir, and filtered dput. */
import { family, record } from '../../decode/spec.js';

export const dcacheSpec = family('dcache', [
  record({ tag: 'd_alloc', fn: 'd_alloc', kind: 'dentry.alloc', fields: { dentry: 'addr', parent: 'addr', name: 'rest' } }),
  record({
    tag: 'd_del',
    fn: 'd_delete',
    kind: 'dentry.delete',
    fields: { dentry: 'addr', parent: 'addr', count: 'int', name: 'rest' },
  }),
  record({ tag: 'd_kill', fn: '__dentry_kill', kind: 'dentry.kill', fields: { dentry: 'addr', parent: 'addr', count: 'int' } }),
  record({ tag: 'pty_kill', fn: 'devpts_pty_kill', kind: 'dentry.ptykill', fields: { dentry: 'addr', parent: 'addr' } }),
  record({ tag: 'd_inval', fn: 'd_invalidate', kind: 'dentry.invalidate', fields: { dentry: 'addr', parent: 'addr' } }),
  record({ tag: 'rrm', fn: 'simple_recursive_removal', kind: 'dentry.rmtree', fields: { dentry: 'addr', parent: 'addr' } }),
  record({ tag: 'dput', fn: 'dput', kind: 'dentry.put', fields: { dentry: 'addr', parent: 'addr', count: 'int' } }),
  record({ tag: 'rd', fn: 'dcache_readdir', kind: 'readdir', fields: { dir: 'addr', file: 'addr' } }),
  record({ tag: 'rd_r', fn: 'dcache_readdir', kind: 'readdir.done', fields: { dir: 'addr' } }),
]);
