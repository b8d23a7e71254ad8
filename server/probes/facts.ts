/**
 * What a kernel offers to attach to, read on the machine that runs it (the host, or the guest
 * under --vm): the functions ftrace can probe, whether kprobes exist at all, its BTF.
 */
import { access, readFile } from 'node:fs/promises';
import { Btf } from './btf.js';

export interface KernelFacts {
  release: string;
  /** kprobe_events exists: kprobes can attach. */
  kprobes: boolean;
  /** Functions that kprobes can attach to (available_filter_functions), or undefined if unreadable. */
  attachable: Set<string> | undefined;
  /** Every function symbol in kallsyms (includes inlined-away? no: only emitted functions). */
  symbols: Set<string>;
  btf: Btf | undefined;
}

const TRACING = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];
const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);

export async function readKernelFacts(): Promise<KernelFacts> {
  const release = (await readFile('/proc/sys/kernel/osrelease', 'utf8')).trim();
  let kprobes = false;
  let attachable: Set<string> | undefined;
  for (const dir of TRACING) {
    if (await exists(`${dir}/kprobe_events`)) kprobes = true;
    if (attachable === undefined) {
      const text = await readFile(`${dir}/available_filter_functions`, 'utf8').catch(() => undefined);
      if (text !== undefined && text.length > 0) attachable = new Set(text.split('\n').map((l) => l.split(' ')[0]!).filter(Boolean));
    }
  }
  const kallsyms = await readFile('/proc/kallsyms', 'utf8').catch(() => '');
  const symbols = new Set<string>();
  for (const line of kallsyms.split('\n')) {
    const [, type, name] = line.split(' ');
    if (name !== undefined && (type === 't' || type === 'T') && !name.includes('[')) symbols.add(name.split('\t')[0]!);
  }
  const btf = await Btf.load().catch(() => undefined);
  return { release, kprobes, attachable, symbols, btf };
}
