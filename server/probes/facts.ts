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
  /** Functions ftrace can trace (available_filter_functions), or undefined if unreadable. */
  ftrace: Set<string> | undefined;
  /** Function symbols in kallsyms: what exists out of line (an inlined function is not there). */
  symbols: Set<string>;
  /** Functions kprobes refuse (debugfs kprobes/blacklist). */
  blacklist: Set<string>;
  btf: Btf | undefined;
}

const TRACING = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];
const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );

export async function readKernelFacts(): Promise<KernelFacts> {
  const release = (await readFile('/proc/sys/kernel/osrelease', 'utf8')).trim();
  let kprobes = false;
  let ftrace: Set<string> | undefined;
  for (const dir of TRACING) {
    if (await exists(`${dir}/kprobe_events`)) kprobes = true;
    if (ftrace === undefined) {
      const text = await readFile(`${dir}/available_filter_functions`, 'utf8').catch(() => undefined);
      if (text !== undefined && text.length > 0)
        ftrace = new Set(
          text
            .split('\n')
            .map((l) => l.split(' ')[0]!)
            .filter(Boolean),
        );
    }
  }
  const bl = await readFile('/sys/kernel/debug/kprobes/blacklist', 'utf8').catch(() => '');
  const blacklist = new Set(
    bl
      .split('\n')
      .map((l) => l.split('\t')[1]?.trim())
      .filter((x): x is string => !!x),
  );
  const kallsyms = await readFile('/proc/kallsyms', 'utf8').catch(() => '');
  const symbols = new Set<string>();
  for (const line of kallsyms.split('\n')) {
    const [, type, name] = line.split(' ');
    if (name !== undefined && (type === 't' || type === 'T') && !name.includes('[')) symbols.add(name.split('\t')[0]!);
  }
  const btf = await Btf.load().catch(() => undefined);
  return { release, kprobes, ftrace, symbols, blacklist, btf };
}

/**
 * Can a kprobe attach to `fn`? It must exist out of line, not be blacklisted, and (unless the
 * kernel has KPROBE_EVENTS_ON_NOTRACE) be traceable by ftrace: kprobe events refuse notrace
 * functions such as all of kernel/trace (tracing_open_file_tr), seen failing with EINVAL.
 */
export function kprobeable(facts: KernelFacts, fn: string): boolean {
  if (facts.blacklist.has(fn)) return false;
  return facts.ftrace !== undefined ? facts.ftrace.has(fn) : facts.symbols.has(fn);
}
