import { EPOLL_CTL_ADD, EPOLL_CTL_DEL, opName, type Addr, type FileRelease, type KernelEvent } from '../model/events.js';
import type { CtlInFlight, World } from '../lifetime/world.js';
import { idOf, type FlagSink, type Rule, watch } from './rule.js';

const FIX = 'a9ed4a6560b8 + 77f4689de17c (v5.9), 319c15174757 (v5.11); a6dc643c6931 (2026, CVE-2026-46242)';

/** Does this ctl touch `file`: as its target, or as a file watched by the epoll instance it works on? */
function touches(world: World, c: CtlInFlight, file: Addr): boolean {
  if (c.file === file) return true;
  if (c.ep === undefined) return false;
  for (const epi of world.files.get(file)?.data.epitems ?? []) if (world.epitems.get(epi)?.data.ep === c.ep) return true;
  return false;
}

function raise(world: World, out: FlagSink, c: CtlInFlight, fput: FileRelease, ev: KernelEvent): void {
  const file = world.files.get(fput.file);
  out.raise(epollCtlVsFinalFput, {
    key: file ? `${file.addr}#${file.gen}` : fput.file,
    time: ev.t,
    objects: file ? [idOf(file)] : [],
    evidence: c.ev.t <= fput.t ? [c.ev, fput, ev === fput ? undefined : ev] : [fput, c.ev, ev === c.ev ? undefined : ev],
    message:
      `EPOLL_CTL_${opName(c.ev.op)} in pid ${c.ev.pid} (${c.ev.comm}) was in flight while the final __fput() of ` +
      `file 0x${fput.file} ran in pid ${fput.pid} (${fput.comm})`,
    // The probes see the overlap, never the loop check touching the dying file: the window, not
    // the use after free. Whether this kernel closes it is not decided from these records.
    guard: { fix: FIX, state: 'unknown', how: 'the probes see the overlap, not a use of the dying file' },
  });
}

const isAddOrDel = (c: CtlInFlight): boolean => c.ev.op === EPOLL_CTL_ADD || c.ev.op === EPOLL_CTL_DEL;

export const epollCtlVsFinalFput: Rule = {
  id: 'epoll.ctl-vs-final-fput',
  severity: 'warning',
  mailingList: '000',
  fix: FIX,
  title: 'EPOLL_CTL_ADD/DEL in flight against a file in its final __fput',
  explanation:
    'EPOLL_CTL_ADD collects the files it will add paths to on a temporary list that goes through struct ' +
    'file, and walks nested epoll instances; a file on it may already be committed to dying (f_count zero, ' +
    '__fput pending), and an EPOLL_CTL_DEL can take epitems out without the global mutex. Seen together, ' +
    'an ADD or DEL in one task and the final __fput of its target (or of a file its epoll instance walks) ' +
    'in another is the window of the 2020 and 2026 use-after-free fixes (a9ed4a6560b8, a6dc643c6931). The ' +
    'probes see the overlap, not the loop check touching the dying file: a warning, never an error.',
  needs: { all: ['ctl', 'ctl_r', 'fput'], optional: ['ins', 'rm', 'fdi'] },
  create: () =>
    watch({
      on: ['file.release', 'ep.insert', 'ep.remove', 'ep.ctl'],
      stage: 'before',
      observe(ev, world, out) {
        if (ev.kind === 'file.release') {
          for (const [tid, c] of world.ctl) {
            if (tid !== ev.tid && isAddOrDel(c) && touches(world, c, ev.file)) raise(world, out, c, ev, ev);
          }
          return;
        }
        if (ev.kind === 'ep.ctl') {
          if (ev.op !== EPOLL_CTL_ADD && ev.op !== EPOLL_CTL_DEL) return;
          const target = world.fds.get(ev.pid, ev.fd)?.file;
          const fput = target && world.fput.get(target);
          if (fput && fput.tid !== ev.tid) raise(world, out, { ev, ep: undefined, file: target }, fput, ev);
          return;
        }
        // An insert or a removal inside an epoll_ctl.
        const c = world.ctl.get(ev.tid);
        const fput = world.fput.get(ev.file);
        if (c && isAddOrDel(c) && fput && fput.tid !== ev.tid) raise(world, out, c, fput, ev);
      },
    }),
};
