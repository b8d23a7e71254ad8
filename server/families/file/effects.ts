/** What the file family's events do to the World: file generations and per-process fd tables. */
import type { Effects } from '../../lifetime/state.js';
import type { FileEvent } from './events.js';

export const fileEffects: Effects<FileEvent> = {
  'file.alloc': (w, ev) => {
    // Reallocated while the old generation's __fput still runs on another CPU (6.12 frees the
    // file inside __fput): the old one is freed by now, with what eventpoll_release_file() reaped.
    const dying = w.fput.get(ev.file);
    const old = w.files.get(ev.file);
    if (dying !== undefined) {
      w.fput.delete(ev.file);
      w.fputOfReborn.set(ev.file, dying.tid);
      if (old !== undefined) w.freeFile(old, ev);
    }
    w.files.birth(ev.file, ev, 'live');
  },
  'file.open': (w, ev) => {
    const f = w.useFile(ev.file, ev);
    if (f) f.data.dentry = ev.dentry;
    w.useDentry(ev.dentry, ev, ev.parent);
  },
  'fd.install': (w, ev) => {
    w.useFile(ev.file, ev);
    w.fds.install(ev.pid, ev.fd, ev.file, ev);
  },
  'fd.close': (w, ev) => {
    w.fds.close(ev.pid, ev.fd);
  },
  'fd.closed': () => {},
  'fd.close.range': (w, ev) => {
    for (const e of w.fds.entries(ev.pid)) if (e.fd >= ev.first && e.fd <= ev.last) w.fds.close(ev.pid, e.fd);
  },
  'fd.cloexec': (w, ev) => {
    for (const fd of ev.fds) w.fds.close(ev.pid, fd);
  },
  'file.lastref': (w, ev) => {
    const f = w.useFile(ev.file, ev);
    if (f) {
      f.data.lastRef = ev;
      w.files.setPhase(f, 'last-ref', ev);
    }
  },
  'file.release': (w, ev) => {
    const f = w.useFile(ev.file, ev);
    if (f) {
      f.data.release = ev;
      if (ev.dentry !== '0') f.data.dentry = ev.dentry;
      w.files.setPhase(f, 'releasing', ev);
    }
    w.fput.set(ev.file, ev);
  },
  'file.freed': (w, ev) => {
    if (w.fputOfReborn.get(ev.file) === ev.tid) {
      w.fputOfReborn.delete(ev.file);
      return;
    }
    w.fput.delete(ev.file);
    const f = w.files.get(ev.file);
    if (f) w.freeFile(f, ev);
  },
  'task.fork': (w, ev) => {
    w.fds.fork(ev.pid, ev.child);
  },
  'task.exit': (w, ev) => {
    w.fds.exit(ev.pid);
  },
};
