/**
 * The bpftrace program lifetrace loads: probes/common.bt plus one script per chosen family,
 * rendered for one kernel profile. Each family's hash (sha256 of its rendered text) goes into the
 * capture header, so a capture says exactly what ran.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { FAMILIES, type Family } from '../model/events.js';
import { projectPath } from '../support/paths.js';
import type { KernelProfile } from './profile.js';

export const PROBES_DIR = projectPath('probes') + '/';

export function scriptSource(name: Family | 'common'): string {
  return readFileSync(`${PROBES_DIR}${name}.bt`, 'utf8');
}

/** Fills the ${...} placeholders of a script for one kernel. */
export function renderScript(src: string, p: KernelProfile): string {
  const refs = (x: string): string =>
    p.fileRefs === 'f_ref'
      ? `((int64)((struct file *)(${x}))->f_ref.refcnt.counter + 1)`
      : `((int64)((struct file *)(${x}))->f_count.counter)`;
  const out = src
    .replace(/\$\{FILE_REFS\(([^)]*)\)\}/g, (_m, x: string) => refs(x))
    .replace(/\$\{EP_REMOVE\}/g, p.epRemove.fn)
    .replace(/\$\{EP_REMOVE_EPI\}/g, `arg${p.epRemove.epiArg}`)
    .replace(/\$\{EP_ITEM_POLL\}/g, p.epItemPoll)
    // Is the ->poll() function at address x one that a probe block watches? (kaddr: resolved by bpftrace.)
    .replace(/\$\{POLL_PROBED\(([^)]*)\)\}/g, (_m, x: string) =>
      p.pollTargets.length === 0 ? '0' : `(${p.pollTargets.map((fn) => `${x} == kaddr("${fn}")`).join(' || ')})`);
  const left = /\$\{[A-Z_]+/.exec(out);
  if (left) throw new Error(`probe script has an unknown placeholder ${left[0]}}`);
  return out;
}

export interface Program {
  text: string;
  families: Family[];
  /** sha256 (hex) of each family's rendered script. */
  hashes: Partial<Record<Family, string>>;
}

export function renderProgram(families: readonly Family[], profile: KernelProfile): Program {
  const chosen = FAMILIES.filter((f) => families.includes(f));
  const parts = [renderScript(scriptSource('common'), profile)];
  const hashes: Partial<Record<Family, string>> = {};
  for (const f of chosen) {
    const text = renderScript(scriptSource(f), profile);
    hashes[f] = createHash('sha256').update(text).digest('hex');
    parts.push(text);
  }
  return { text: parts.join('\n'), families: chosen, hashes };
}
