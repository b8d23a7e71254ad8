/** probes/fsnotify.bt: mark lifetimes and permission-event waits. */
import { family, record } from '../../decode/spec.js';

export const fsnotifySpec = family('fsnotify', [
  record({ tag: 'm_add', fn: 'fsnotify_add_mark_locked', kind: 'mark.add', fields: { mark: 'addr', group: 'addr' } }),
  record({ tag: 'm_detach', fn: 'fsnotify_detach_mark', kind: 'mark.detach', fields: { mark: 'addr' } }),
  record({ tag: 'm_destroy', fn: 'fsnotify_destroy_mark', kind: 'mark.destroy', fields: { mark: 'addr' } }),
  record({ tag: 'm_free', fn: 'fsnotify_free_mark', kind: 'mark.free', fields: { mark: 'addr' } }),
  // ->free_mark() of the mark's group (inotify, fanotify or dnotify): the memory goes.
  record({ tag: 'm_gone', fn: '->free_mark', kind: 'mark.gone', fields: { mark: 'addr' } }),
  record({ tag: 'm_put', fn: 'fsnotify_put_mark', kind: 'mark.put', fields: { mark: 'addr', count: 'int' } }),
  // iter_info->marks[] has one slot per iterator type (inode, vfsmount, sb, parent); 0 = empty.
  record({ tag: 'pw', fn: 'fsnotify_prepare_user_wait', kind: 'perm.wait', fields: { iter: 'addr', marks: 'addrs4' } }),
  record({ tag: 'pw_r', fn: 'fsnotify_finish_user_wait', kind: 'perm.wait.done', fields: { iter: 'addr' } }),
  // The task exited with a wait still held for it: that ends the wait too.
  record({ tag: 'pw_x', fn: 'sched_process_exit', kind: 'perm.wait.done', fields: { iter: 'addr' } }),
]);
