/** One-line, human-readable renderings of the file family's events (evidence and dumps). */
import { hex, type PerKind } from '../../model/event-shape.js';
import type { FileEvent } from './events.js';

export const describeFile: PerKind<FileEvent, [], string> = {
  'file.alloc': (ev) => `file ${hex(ev.file)} allocated`,
  'file.open': (ev) => `file ${hex(ev.file)} opened on dentry ${hex(ev.dentry)}`,
  'fd.install': (ev) => `fd ${ev.fd} -> file ${hex(ev.file)}`,
  'fd.close': (ev) => (ev.fn.startsWith('dup') ? `fd ${ev.fd} replaced by ${ev.fn}()` : `close(${ev.fd})`),
  'fd.close.range': (ev) => `close_range(${ev.first}, ${ev.last})`,
  'fd.cloexec': (ev) => `execve closes its close-on-exec fds ${ev.fds.join(', ') || '(none)'}`,
  'fd.closed': (ev) => `fd ${ev.fd} closed: file ${hex(ev.file)} left with count=${ev.count}`,
  'file.lastref': (ev) => `last reference to file ${hex(ev.file)} dropped`,
  'file.release': (ev) => `__fput(file ${hex(ev.file)}) count=${ev.count}${ev.hasEp ? ' f_ep set' : ''}`,
  'file.freed': (ev) => `__fput(file ${hex(ev.file)}) done`,
  'task.fork': (ev) => `fork -> pid ${ev.child}`,
  'task.exit': () => 'process exit',
};
