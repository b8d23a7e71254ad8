import { idOf, type Rule } from './rule.js';

export const epollPollOnDyingFile: Rule = {
  id: 'epoll.poll-on-dying-file',
  severity: 'error',
  thread: '001',
  title: "epoll called ->poll() on a file whose last reference is gone",
  explanation:
    "ep_item_poll() calls the target's ->poll() through epi->ffd.file without holding a reference. Once the " +
    'count has reached zero, __fput() may be tearing the file down (->release has freed private_data, e.g. a ' +
    "dma-buf) until eventpoll_release_file() takes the epitem off. Fixed in v6.9 by 4efaa5acf0a1, which " +
    'takes a reference with epi_fget() first and skips ->poll() when the count is already zero.',
  needs: { all: ['ins', 'poll', 'fput'], optional: ['last', 'rel'] },
  create: () => ({
    on: ['ep.poll'],
    stage: 'before',
    observe(ev, world, out) {
      if (ev.kind !== 'ep.poll') return;
      const file = world.files.get(ev.file);
      const fput = world.fput.get(ev.file);
      let why: string | undefined;
      if (fput !== undefined && fput.tid !== ev.tid) why = `__fput() of the file is running in pid ${fput.pid} (${fput.comm}) and has not finished eventpoll_release_file()`;
      else if (ev.count <= 0) why = 'its f_count was already 0';
      else if (file?.phase === 'last-ref') why = 'its last reference was already dropped';
      if (why === undefined) return;
      const epi = world.epitems.get(ev.epi);
      out.raise(epollPollOnDyingFile, {
        key: file ? `${file.addr}#${file.gen}` : ev.file,
        time: ev.t,
        objects: [...(file ? [idOf(file)] : []), ...(epi ? [idOf(epi)] : [])],
        evidence: [file?.data.lastRef, fput, world.epRelease.get(fput?.tid ?? -1), ev],
        message: `->poll() of file 0x${ev.file} entered under epoll in pid ${ev.pid} (${ev.comm}) while ${why}`,
      });
    },
  }),
};
