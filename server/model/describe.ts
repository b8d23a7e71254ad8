/** One-line, human-readable rendering of an event's own fields (evidence and dumps). */
import { opName, type KernelEvent } from './events.js';

/**
 * An event's kernel stack as evidence shows it: `stack`, the frames innermost first (none: the
 * kernel could not give it), and `stack_at: 'return'` when it was taken at a kretprobe (after the
 * probed function returned, whatever the record's fields say of its entry). Nothing for an event
 * without a stack (a capture made before stacks, or the syscalls fallback).
 */
export interface StackView {
  stack?: string[];
  stack_at?: 'return';
}

export function stackView(ev: KernelEvent): StackView {
  const s = ev.stack;
  if (s === undefined) return {};
  return s.atReturn ? { stack: [...s.frames], stack_at: 'return' } : { stack: [...s.frames] };
}

/** The stack as text lines (report, export): a header saying where it was taken, then a frame a line. */
export function stackLines(v: StackView): string[] {
  if (v.stack === undefined) return [];
  const head = v.stack_at === 'return' ? 'kernel stack at the return:' : 'kernel stack:';
  return v.stack.length === 0 ? [`${head} unavailable (the kernel could not give it)`] : [head, ...v.stack];
}

const hex = (a: string): string => `0x${a}`;

export function describeEvent(ev: KernelEvent): string {
  switch (ev.kind) {
    case 'file.alloc':
      return `file ${hex(ev.file)} allocated`;
    case 'file.open':
      return `file ${hex(ev.file)} opened on dentry ${hex(ev.dentry)}`;
    case 'fd.install':
      return `fd ${ev.fd} -> file ${hex(ev.file)}`;
    case 'fd.close':
      return ev.fn.startsWith('dup') ? `fd ${ev.fd} replaced by ${ev.fn}()` : `close(${ev.fd})`;
    case 'fd.close.range':
      return `close_range(${ev.first}, ${ev.last})`;
    case 'fd.cloexec':
      return `execve closes its close-on-exec fds ${ev.fds.join(', ') || '(none)'}`;
    case 'fd.closed':
      return `fd ${ev.fd} closed: file ${hex(ev.file)} left with count=${ev.count}`;
    case 'file.lastref':
      return `last reference to file ${hex(ev.file)} dropped`;
    case 'file.release':
      return `__fput(file ${hex(ev.file)}) count=${ev.count}${ev.hasEp ? ' f_ep set' : ''}`;
    case 'file.freed':
      return `__fput(file ${hex(ev.file)}) done`;
    case 'task.fork':
      return `fork -> pid ${ev.child}`;
    case 'task.exit':
      return 'process exit';
    case 'ep.ctl':
      return `epoll_ctl(epfd ${ev.epfd}, ${opName(ev.op)}, fd ${ev.fd})`;
    case 'ep.ctl.done':
      return `epoll_ctl(epfd ${ev.epfd}, ${opName(ev.op)}, fd ${ev.fd}) = ${ev.ret}`;
    case 'ep.insert':
      return `epitem ${hex(ev.epi)} inserted: file ${hex(ev.file)} fd ${ev.fd} in ep ${hex(ev.ep)}`;
    case 'ep.remove':
      return `epitem ${hex(ev.epi)} removed: file ${hex(ev.file)} fd ${ev.fd} from ep ${hex(ev.ep)}`;
    case 'ep.release':
      return `eventpoll_release_file(file ${hex(ev.file)})`;
    case 'ep.release.done':
      return `eventpoll_release_file(file ${hex(ev.file)}) done`;
    case 'ep.close':
      return `epoll instance ${hex(ev.ep)} closing (file ${hex(ev.file)})`;
    case 'ep.close.done':
      return `epoll instance ${hex(ev.ep)} closed`;
    case 'ep.poll':
      return `ep_item_poll(epitem ${hex(ev.epi)}) entered: file ${hex(ev.file)} count=${ev.count}`;
    case 'ep.poll.done':
      return (
        `ep_item_poll(epitem ${hex(ev.epi)}) returned ${ev.ret}: ${ev.pollFn}() of file ${hex(ev.file)} ` +
        (ev.polled ? 'was entered' : ev.probed ? 'was not entered' : 'is not probed')
      );
    case 'target.poll':
      return `${ev.pollFn}(file ${hex(ev.file)}) entered, count=${ev.count}${ev.inside ? ', inside ep_item_poll' : ''}`;
    case 'dentry.alloc':
      return `dentry ${hex(ev.dentry)} "${ev.name}" allocated under ${hex(ev.parent)}`;
    case 'dentry.delete':
      return `d_delete(dentry ${hex(ev.dentry)} "${ev.name}") count=${ev.count} parent ${hex(ev.parent)}`;
    case 'dentry.kill':
      return `__dentry_kill(dentry ${hex(ev.dentry)}) count=${ev.count} parent ${hex(ev.parent)}`;
    case 'dentry.ptykill':
      return `devpts_pty_kill(dentry ${hex(ev.dentry)}) parent ${hex(ev.parent)}`;
    case 'dentry.invalidate':
      return `d_invalidate(dentry ${hex(ev.dentry)})`;
    case 'dentry.rmtree':
      return `simple_recursive_removal(dentry ${hex(ev.dentry)})`;
    case 'dentry.put':
      return `dput(dentry ${hex(ev.dentry)}) count=${ev.count}`;
    case 'readdir':
      return `dcache_readdir(dir ${hex(ev.dir)}) begins`;
    case 'readdir.done':
      return `dcache_readdir(dir ${hex(ev.dir)}) returns`;
    case 'mark.add':
      return `mark ${hex(ev.mark)} added to group ${hex(ev.group)}`;
    case 'mark.detach':
      return `mark ${hex(ev.mark)} detached`;
    case 'mark.destroy':
      return `mark ${hex(ev.mark)} destroyed`;
    case 'mark.free':
      return `mark ${hex(ev.mark)} freed (ALIVE cleared)`;
    case 'mark.gone':
      return `mark ${hex(ev.mark)} memory freed by its group's ->free_mark()`;
    case 'mark.put':
      return `fsnotify_put_mark(mark ${hex(ev.mark)}) count=${ev.count}`;
    case 'perm.wait':
      return `permission event waits on user space; pins marks ${ev.marks.map(hex).join(', ') || '(none)'}`;
    case 'perm.wait.done':
      return ev.fn === 'sched_process_exit' ? 'the waiting task exited: its wait is over' : 'permission event answered';
    case 'eventfs.create':
      return `eventfs dir "${ev.name}" ${hex(ev.ei)} created`;
    case 'eventfs.remove':
      return `eventfs dir "${ev.name}" ${hex(ev.ei)} removed`;
    case 'eventfs.lookup':
      return `lookup "${ev.name}" in eventfs dir ${hex(ev.ei)}`;
    case 'eventfs.open':
      return `open of event file (dentry ${hex(ev.dentry)}) in eventfs dir ${hex(ev.ei)}`;
    case 'tracefs.remove':
      return `tracefs_remove(dentry ${hex(ev.dentry)})`;
  }
}
