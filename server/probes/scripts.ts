/**
 * The bpftrace program lifetrace loads: probes/common.bt plus one script per chosen family,
 * rendered for one kernel profile. Each family's hash (sha256 of its rendered text) goes into the
 * capture header, so a capture says exactly what ran.
 */
import { readFileSync } from 'node:fs';
import { KPROBE_FAMILIES, type Family } from '../model/events.js';
import { projectPath } from '../support/paths.js';
import type { KernelProfile } from './profile.js';

export const PROBES_DIR = `${projectPath('probes')}/`;

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
      p.pollTargets.length === 0 ? '0' : `(${p.pollTargets.map((fn) => `${x} == kaddr("${fn}")`).join(' || ')})`,
    );
  const left = /\$\{[A-Z_]+/.exec(out);
  if (left) throw new Error(`probe script has an unknown placeholder ${left[0]}}`);
  return out;
}

/**
 * Frames of kernel stack each record of the kprobe families carries. Measured on 6.1, the deepest
 * path lifetrace probes (a fanotify permission wait reached from openat(2):
 * fsnotify_prepare_user_wait ... do_sys_openat2, do_syscall_64, entry_SYSCALL_64_after_hwframe) is
 * 11 frames: 16 keeps the system call entry in view with room for deeper callers (stacked file
 * systems, interrupts). In the kernel a record costs one stack-map lookup (records pass the in-kernel
 * filters first); the perf buffer carries the stack id and bpftrace symbolizes it in user space.
 */
export const STACK_DEPTH = 16;

/** A printf record: its format (ending in comm's %s), its arguments up to the closing `comm);`. */
const RECORD_PRINTF = /printf\("([a-z_]+)\\t([^"]*)%s",([^;]*?)\bcomm\s*\);/g;
const PROBE_HEADER = /^(kprobe|kretprobe|tracepoint|uprobe|uretprobe|BEGIN|END|interval|profile)\b/gm;

/**
 * Adds the kernel stack to every printf record of a script, whatever the record: one more field
 * after comm, `\n`, then `return` in a kretprobe's records (their stack is the one at the return,
 * even where their fields were saved at entry), then bpftrace's kstack text (itself "\n" and one
 * indented frame a line, or "" when the stack could not be read). The leading `\n` marks the
 * field: no other field starts with a newline, and the record stays decodable with the stack
 * missing. See decode/stacks.ts.
 */
export function withStacks(src: string, family: string): string {
  const headers = [...src.matchAll(PROBE_HEADER)].map((m) => ({ at: m.index, ret: m[1] === 'kretprobe' }));
  const atReturn = (offset: number): boolean => headers.findLast((h) => h.at < offset)?.ret ?? false;
  const out = src.replace(
    RECORD_PRINTF,
    (_m, tag: string, fmt: string, args: string, offset: number) =>
      `printf("${tag}\\t${fmt}%s\\t\\n${atReturn(offset) ? 'return' : ''}%s",${args}comm, kstack(${STACK_DEPTH}));`,
  );
  const left = [...out.matchAll(/printf\("([a-z_]+)\\t[^;]*;/g)].find((m) => !m[0].includes('kstack('));
  if (left)
    throw new Error(`probes/${family}.bt: record "${left[1]}" does not end in comm (every record's last field is comm): ${left[0]}`);
  return out;
}

/** A family's script, rendered for one kernel: the kprobe families' records carry the kernel stack. */
export function renderFamily(family: Family | 'common', p: KernelProfile): string {
  const text = renderScript(scriptSource(family), p);
  return (KPROBE_FAMILIES as readonly string[]).includes(family) ? withStacks(text, family) : text;
}
