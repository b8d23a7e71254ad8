/**
 * A small text notation for hand-written fixture captures, turned into real capture lines (the
 * exact bpftrace -f json envelopes) so tests go through the same reader and decoder as real data.
 *
 *   # comment
 *   <s> <cpu> <pid>[/<tid>] <comm> <tag> <field>...    one probe record; time in seconds (after 1000 s of uptime)
 *   !lost <n>                                          a bpftrace lost_events record
 *   !raw <text>                                        a line copied as is (for malformed input)
 *   !fixes <commit>=<yes|no|unknown>...                the header's kernel-level fix checks (any line)
 *
 * Fields written @name become stable kernel-looking addresses (the same name, the same address);
 * @0 is NULL. A last field written ^f1,f2,... is the record's kernel stack (frames innermost first,
 * as the generator's kstack field carries it); ^ alone, a stack the kernel could not give;
 * ^return:f1,... a kretprobe's stack.
 */
import { CAPTURE_FORMAT, CAPTURE_VERSION, serializeHeader } from '../../server/capture/header.js';

const BASE_NS = 1000n * 1_000_000_000n;

export interface TraceOptions {
  header?: boolean;
  families?: string[];
}

export function traceToCapture(src: string, opts: TraceOptions = {}): string {
  const addrs = new Map<string, string>();
  const addr = (name: string): string => {
    if (name === '0') return '0';
    let a = addrs.get(name);
    if (a === undefined) {
      a = (0xffff888100000000n + BigInt(addrs.size + 1) * 0x1000n).toString(16);
      addrs.set(name, a);
    }
    return a;
  };
  const out: string[] = [];
  if (opts.header !== false) {
    const families = opts.families ?? ['file', 'epoll', 'dcache', 'fsnotify', 'tracefs'];
    const fixes = Object.fromEntries(
      src
        .split('\n')
        .filter((l) => l.trim().startsWith('!fixes '))
        .flatMap((l) => l.trim().slice(7).trim().split(/\s+/))
        .map((w) => w.split('='))
        .map(([commit, state]) => [commit!, { state: state!, how: `fixture: ${commit} ${state}` }]),
    );
    out.push(
      serializeHeader({
        format: CAPTURE_FORMAT,
        version: CAPTURE_VERSION,
        created: '2026-11-21T00:00:00.000Z',
        host: 'fixture',
        kernel: '6.1.0-fixture-amd64',
        families: Object.fromEntries(families.map((f) => [f, 'fixture'])),
        lifetrace_version: '0.1.0',
        ...(Object.keys(fixes).length > 0 ? { fixes } : {}),
      }),
    );
  }
  for (const raw of src.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('!lost ')) {
      out.push(
        JSON.stringify({ type: 'lost_events', data: { events: Number(line.slice(6)) } })
          .replace(/":/g, '": ')
          .replace(/,"/g, ', "'),
      );
      continue;
    }
    if (line.startsWith('!fixes ')) continue;
    if (line.startsWith('!raw ')) {
      out.push(line.slice(5));
      continue;
    }
    const [sec, cpu, ids, comm, tag, ...fields] = line.split(/\s+/);
    if (tag === undefined) throw new Error(`fixture line needs at least 5 columns: ${line}`);
    const [pid, tid = pid] = ids!.split('/');
    const t = BASE_NS + BigInt(Math.round(Number(sec) * 1_000_000_000));
    const stack = fields.at(-1)?.startsWith('^') ? fields.pop()!.slice(1) : undefined;
    const f = fields.map((x) => (x.startsWith('@') ? addr(x.slice(1)) : x.startsWith('"') ? x.slice(1, -1) : x));
    const data = [tag, t.toString(), cpu, pid, tid, ...f, comm, ...(stack === undefined ? [] : [stackField(stack)])].join('\t');
    out.push(`{"type": "printf", "data": ${JSON.stringify(data)}}`);
  }
  return `${out.join('\n')}\n`;
}

/** A kstack field as the generator's records carry it (decode/stacks.ts), from `f1,f2` or `return:f1,f2`. */
export function stackField(spec: string): string {
  const atReturn = spec.startsWith('return:');
  const frames = (atReturn ? spec.slice('return:'.length) : spec).split(',').filter((x) => x !== '');
  return `\n${atReturn ? 'return' : ''}${frames.length === 0 ? '' : `\n${frames.map((x) => `        ${x}\n`).join('')}`}`;
}
