/** probes/file.bt: struct file births and deaths, fd tables, fork and exit. */
import { family, record } from '../../decode/spec.js';

export const fileSpec = family('file', [
  record({ tag: 'alloc', fn: 'alloc_empty_file', kind: 'file.alloc', fields: { file: 'addr' } }),
  record({ tag: 'open', fn: 'vfs_open', kind: 'file.open', fields: { file: 'addr', dentry: 'addr', parent: 'addr' } }),
  record({ tag: 'fdi', fn: 'fd_install', kind: 'fd.install', fields: { fd: 'int', file: 'addr' } }),
  record({ tag: 'fdc', fn: 'close', kind: 'fd.close', fields: { fd: 'int' } }),
  record({ tag: 'fdc_r', fn: 'close', kind: 'fd.closed', fields: { fd: 'int', file: 'addr', count: 'int' } }),
  // dup2()/dup3() over a followed fd: its close, what the file was left with, the new file there.
  record({ tag: 'dupc', fn: 'dup2', kind: 'fd.close', fields: { fd: 'int' } }),
  record({ tag: 'dupc_r', fn: 'dup2', kind: 'fd.closed', fields: { fd: 'int', file: 'addr', count: 'int' } }),
  record({ tag: 'dupi', fn: 'dup2', kind: 'fd.install', fields: { fd: 'int', file: 'addr' } }),
  record({ tag: 'fdcr', fn: 'close_range', kind: 'fd.close.range', fields: { first: 'int', last: 'int' } }),
  // The close-on-exec fds below 256, as the bitmap of the fd table's first four words.
  record({ tag: 'cloexec', fn: 'do_close_on_exec', kind: 'fd.cloexec', fields: { fds: 'bits256' } }),
  record({ tag: 'last', fn: 'fput', kind: 'file.lastref', fields: { file: 'addr' } }),
  record({
    tag: 'fput',
    fn: '__fput',
    kind: 'file.release',
    fields: { file: 'addr', count: 'int', hasEp: 'bool', dentry: 'addr' },
  }),
  record({ tag: 'fput_r', fn: '__fput', kind: 'file.freed', fields: { file: 'addr' } }),
  record({ tag: 'fork', fn: 'task_newtask', kind: 'task.fork', fields: { child: 'int' } }),
  record({ tag: 'exit', fn: 'sched_process_exit', kind: 'task.exit', fields: {} }),
]);
