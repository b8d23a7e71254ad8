import { describeEvent } from '../model/describe.js';
import { formatObject } from '../model/objects.js';
import { type Rule, watch } from './rule.js';

export const lifetimeUseAfterFree: Rule = {
  id: 'lifetime.use-after-free',
  severity: 'error',
  mailingList: '000',
  fix: 'no fix (a use of freed memory is the bug itself)',
  fixedGuard: {
    state: 'no',
    how: 'no fix makes a use after free safe: an error on any kernel, unless a birth was lost: see the confidence',
  },
  title: 'object used after it was freed and before its address was born again',
  explanation:
    'Every followed object has a birth and a free; an address reused after a free starts a new generation. ' +
    'An event that names an address after its free and before any new birth means the kernel touched freed ' +
    'memory (or a birth was lost: see the confidence). All five threads are, in the end, about this.',
  needs: { any: ['fput_r', 'rm', 'd_kill', 'm_put', 'epc_r'] },
  create: () =>
    watch({
      on: 'all',
      stage: 'after',
      observe(ev, world, out) {
        for (const t of world.afterFree) {
          out.raise(lifetimeUseAfterFree, {
            key: `${t.id.kind}:${t.id.addr}#${t.id.gen}`,
            time: ev.t,
            objects: [t.id],
            evidence: [t.freed, ev],
            message: `${formatObject(t.id)} used by ${ev.fn}() in pid ${ev.pid} (${ev.comm}) after it was freed: ${describeEvent(ev)}`,
          });
        }
      },
    }),
};
