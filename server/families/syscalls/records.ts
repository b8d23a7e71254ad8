/**
 * probes/syscalls.bt, the fallback without kprobes: syscall tracepoints carry fd numbers, not
 * struct file addresses. The records decode to fd-level events; lifetime/fdtable.ts (FdModel) turns them into
 * kernel events once they are in time order.
 */
import { family, record } from '../../decode/spec.js';

export const syscallsSpec = family('syscalls', [
  record({ tag: 'sc_ctl', fn: 'epoll_ctl', kind: 'sc.ctl', fields: { epfd: 'int', op: 'int', fd: 'int' } }),
  record({ tag: 'sc_ctl_r', fn: 'epoll_ctl', kind: 'sc.ctl.done', fields: { epfd: 'int', op: 'int', fd: 'int', ret: 'int' } }),
  record({ tag: 'sc_new', fn: 'open', kind: 'sc.new', fields: { fd: 'int' } }),
  record({ tag: 'sc_pipe', fn: 'pipe2', kind: 'sc.pipe', fields: { fd0: 'int', fd1: 'int' } }),
  record({ tag: 'sc_dup', fn: 'dup', kind: 'sc.dup', fields: { oldfd: 'int', fd: 'int' } }),
  record({ tag: 'sc_close', fn: 'close', kind: 'sc.close', fields: { fd: 'int' } }),
  record({ tag: 'sc_fork', fn: 'task_newtask', kind: 'sc.fork', fields: { child: 'int' } }),
  record({ tag: 'sc_exit', fn: 'sched_process_exit', kind: 'sc.exit', fields: {} }),
]);
