/**
 * Probe resolution: for each probe block of the chosen families, how it attaches on this kernel.
 *
 * - exact: the function is attachable by its name;
 * - clone: only a compiler clone exists (.isra, .constprop, .part); attached by wildcard, and its
 *   arguments are trusted only where the script checks them (ep_item_poll checks its epitem);
 * - substitute: the function the kernel inlined is replaced by another (ep_insert ->
 *   ep_ptable_queue_proc, ep_remove -> ep_remove_epi...);
 * - tracepoint: a tracepoint, always attachable where tracing is;
 * - missing: not on this kernel; the block is left out of the program and its records never come.
 */
import { createHash } from 'node:crypto';
import { FAMILIES, KPROBE_FAMILIES, type Family } from '../model/events.js';
import type { FixChecks } from '../model/fixes.js';
import { kprobeable, type KernelFacts } from './facts.js';
import { checkFixes } from './fixes.js';
import { profileFromBtf, DEFAULT_PROFILE, type KernelProfile } from './profile.js';
import { renderFamily } from './scripts.js';

export type Resolution = 'exact' | 'clone' | 'substitute' | 'tracepoint' | 'missing';

export interface ProbePoint {
  family: Family | 'common';
  /** As written in the script (after rendering), e.g. kprobe:ep_item_poll* */
  attach: string;
  /** The kernel function (or tracepoint) it stands for. */
  wants: string;
  resolution: Resolution;
  /** The symbol that will be hit, when it differs from `wants`. */
  target?: string;
  /** Record tags this block prints. */
  tags: string[];
  note?: string;
}

export interface ResolvedProgram {
  text: string;
  families: Family[];
  hashes: Partial<Record<Family, string>>;
  points: ProbePoint[];
  profile: KernelProfile;
  /** Record tags that can arrive. */
  tags: Set<string>;
  /** Which historical fixes this kernel carries, decided from its own facts (the header's `fixes`). */
  fixes: FixChecks;
}

/** Functions probed through another: what the script attaches to -> what it stands for. */
const SUBSTITUTES: Record<string, { wants: string; note: string }> = {
  ep_ptable_queue_proc: { wants: 'ep_insert', note: 'ep_insert is inlined; its poll of the target calls ep_ptable_queue_proc' },
  ep_remove_epi: { wants: 'ep_remove', note: 'every epitem removal path of the 2026 stable series goes through it' },
  __ep_remove: { wants: 'ep_remove', note: '6.4-6.12 removal path' },
};

interface Block {
  header: string;
  text: string;
}

function splitBlocks(script: string): { prelude: string; blocks: Block[] } {
  const lines = script.split('\n');
  const blocks: Block[] = [];
  const prelude: string[] = [];
  let cur: string[] | undefined;
  for (const line of lines) {
    // A probe list spans lines ending in ',': those lines belong to one block.
    const continues = cur !== undefined && cur[cur.length - 1]!.trimEnd().endsWith(',');
    if (!continues && /^(kprobe|kretprobe|tracepoint|BEGIN|END|interval|profile):?/.test(line)) {
      if (cur) blocks.push({ header: cur[0]!, text: cur.join('\n') });
      cur = [line];
    } else if (cur) cur.push(line);
    else prelude.push(line);
  }
  if (cur) blocks.push({ header: cur[0]!, text: cur.join('\n') });
  return { prelude: prelude.join('\n'), blocks };
}

const CLONE = /^(.*)\.(isra|constprop|part|lto_priv)\.\d+$/; // not .cold: a split-off cold path

function resolveKprobe(fn: string, facts: KernelFacts): { resolution: Resolution; target?: string } {
  const can = (name: string): boolean => kprobeable(facts, name);
  const wildcard = fn.endsWith('*');
  const base = wildcard ? fn.slice(0, -1) : fn;
  if (!facts.kprobes) return { resolution: 'missing' };
  if (!wildcard && can(fn)) return { resolution: SUBSTITUTES[fn] ? 'substitute' : 'exact' };
  if (wildcard && can(base)) return { resolution: 'exact', target: base };
  if (wildcard) {
    for (const name of facts.symbols) {
      const m = CLONE.exec(name);
      if (m && m[1] === base) return { resolution: 'clone', target: name };
    }
  }
  return { resolution: 'missing' };
}

/** The families to load when none are asked for: the kprobe ones, or the tracepoint fallback. */
export function defaultFamilies(facts: KernelFacts): Family[] {
  return facts.kprobes ? [...KPROBE_FAMILIES] : ['syscalls'];
}

/** How a kprobe block attaches on some kernel: exact, clone, substitute or missing (see the top of this file). */
type KprobeResolver = (fn: string) => { resolution: Resolution; target?: string };

/** Every kprobe attaches by its own name (or its substitute's): the program as written, for any kernel. */
const EVERY_KPROBE: KprobeResolver = (fn) => ({ resolution: SUBSTITUTES[fn] ? 'substitute' : 'exact' });

/** The program for this kernel: its profile, its probe points, and only the blocks that attach. */
export function resolveProgram(families: readonly Family[], facts: KernelFacts): ResolvedProgram {
  const profile = facts.btf ? profileFromBtf(facts.btf, (fn) => kprobeable(facts, fn)) : DEFAULT_PROFILE;
  return { ...renderProgram(families, profile, (fn) => resolveKprobe(fn, facts)), fixes: checkFixes(facts) };
}

/**
 * The program of the chosen families for one kernel profile, each block resolved by `kprobe` (the
 * blocks it says are missing are left out). Each family's hash is sha256 of what is kept of it.
 */
export function renderProgram(
  families: readonly Family[],
  profile: KernelProfile,
  kprobe: KprobeResolver = EVERY_KPROBE,
): Omit<ResolvedProgram, 'fixes'> {
  const chosen = FAMILIES.filter((f) => families.includes(f));
  const points: ProbePoint[] = [];
  const parts: string[] = [];
  const hashes: Partial<Record<Family, string>> = {};
  const tags = new Set<string>();
  for (const family of ['common', ...chosen] as const) {
    const { prelude, blocks } = splitBlocks(renderFamily(family, profile));
    const kept = [prelude];
    for (const b of blocks) {
      const [kind, name = ''] = b.header.replace(/[\s,]*\{?\s*$/, '').split(':');
      // A block's records, and those of the kprobe families it stands in for (`// provides: a b`).
      const blockTags = [...b.text.matchAll(/printf\("([a-z_]+)\\t/g)].map((m) => m[1]!);
      for (const m of b.text.matchAll(/\/\/ provides: ([a-z_ ]+)/g)) blockTags.push(...m[1]!.trim().split(/\s+/));
      let p: ProbePoint;
      if (kind === 'kprobe' || kind === 'kretprobe') {
        const r = kprobe(name);
        const sub = SUBSTITUTES[name];
        p = { family, attach: `${kind}:${name}`, wants: sub?.wants ?? name.replace(/\*$/, ''), resolution: r.resolution, tags: blockTags };
        if (r.target) p.target = r.target;
        if (sub && r.resolution !== 'missing') p.note = sub.note;
        if (r.resolution === 'clone') p.note = 'compiler clone: arguments checked in the script before use';
      } else if (kind === 'tracepoint') {
        const tp = b.header.replace(/[\s,]*\{?\s*$/, '').slice('tracepoint:'.length);
        p = { family, attach: `tracepoint:${tp}`, wants: tp, resolution: 'tracepoint', tags: blockTags };
      } else {
        p = { family, attach: kind!, wants: kind!, resolution: 'exact', tags: blockTags };
      }
      if (family !== 'common') points.push(p);
      if (p.resolution === 'missing') continue;
      kept.push(b.text);
      for (const t of blockTags) tags.add(t);
    }
    const text = kept.join('\n');
    if (family !== 'common') hashes[family] = createHash('sha256').update(text).digest('hex');
    parts.push(text);
  }
  return { text: parts.join('\n'), families: chosen, hashes, points, profile, tags };
}
