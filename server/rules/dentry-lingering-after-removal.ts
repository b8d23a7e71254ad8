import type { Addr, DentryPut, KernelEvent } from '../model/events.js';
import { NS_PER_MS, formatDuration, type Nanos } from '../model/time.js';
import type { ObjectId } from '../model/objects.js';
import { FIXES, formatFix } from '../model/fixes.js';
import { idOf, type Rule, watch } from './rule.js';

/** Shorter than this between the last dput and the kill is the normal, immediate teardown. */
const LINGER_NS = NS_PER_MS;

interface Stats {
  removal: KernelEvent;
  root: ObjectId | undefined;
  lingering: number;
  stillAllocated: number;
  longest: number;
  longestDentry: Addr | undefined;
  example: DentryPut | undefined;
}

export const dentryLingeringAfterRemoval: Rule = {
  id: 'dentry.lingering-after-removal',
  severity: 'info',
  mailingList: '004',
  fix: formatFix(FIXES['43aa6f97c2d0']),
  title: 'dentries under a removed directory stay allocated at refcount zero',
  explanation:
    'After a directory is removed, its child dentries at refcount zero should be killed at once (they are ' +
    'unhashed, so dput() does not keep them cached). Dentries that linger can be found again by a racing ' +
    'walk and opened after their backing object is gone: the eventfs thread kept ei->dentry around for this ' +
    'reason. Reported once per removal with the count and the longest linger (over 1 ms). Always info: a ' +
    'lingering dentry is the precondition of a use after removal, not one (dentry.use-after-removal flags ' +
    'the use).',
  needs: { all: ['dput', 'd_kill'], any: ['rrm', 'd_inval', 'tfs_rm'] },
  create: () => {
    const zeroAt = new Map<Addr, { put: DentryPut; removal: KernelEvent }>();
    const stats = new Map<KernelEvent, Stats>();
    const statsFor = (removal: KernelEvent, root: ObjectId | undefined): Stats => {
      let s = stats.get(removal);
      if (s === undefined) {
        s = { removal, root, lingering: 0, stillAllocated: 0, longest: 0, longestDentry: undefined, example: undefined };
        stats.set(removal, s);
      }
      return s;
    };
    const record = (dentry: Addr, z: { put: DentryPut; removal: KernelEvent }, until: Nanos, alive: boolean): void => {
      const linger = until - z.put.t;
      if (linger < LINGER_NS) return;
      const s = statsFor(z.removal, undefined);
      s.lingering++;
      if (alive) s.stillAllocated++;
      if (linger > s.longest) {
        s.longest = linger;
        s.longestDentry = dentry;
        s.example = z.put;
      }
    };
    return watch({
      on: ['dentry.put', 'dentry.kill'],
      stage: 'after',
      observe(ev, world) {
        if (ev.kind === 'dentry.put') {
          const d = world.dentries.get(ev.dentry);
          if (d?.data.zero === ev && d.data.removed) {
            zeroAt.set(ev.dentry, { put: ev, removal: d.data.removed });
            const rootDentry = 'dentry' in d.data.removed ? world.dentries.get((d.data.removed as { dentry: Addr }).dentry) : undefined;
            statsFor(d.data.removed, rootDentry && idOf(rootDentry));
          }
        } else {
          const z = zeroAt.get(ev.dentry);
          if (z) {
            zeroAt.delete(ev.dentry);
            record(ev.dentry, z, ev.t, false);
          }
        }
      },
      finish(_world, out, end) {
        for (const [dentry, z] of zeroAt) record(dentry, z, end, true);
        zeroAt.clear();
        for (const s of stats.values()) {
          if (s.lingering === 0) continue;
          out.raise(dentryLingeringAfterRemoval, {
            key: `${s.removal.line}`,
            time: s.removal.t,
            objects: s.root ? [s.root] : [],
            evidence: [s.removal, s.example],
            message:
              `${s.lingering} dentr${s.lingering === 1 ? 'y' : 'ies'} under the directory removed by ${s.removal.fn}() lingered at ` +
              `refcount 0 (longest ${formatDuration(s.longest)}, dentry 0x${s.longestDentry}); ${s.stillAllocated} still allocated at the end`,
          });
        }
      },
    });
  },
};
