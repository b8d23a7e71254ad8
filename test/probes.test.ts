/**
 * The probe scripts against the decoders and against this machine's real kernel. This machine's
 * kernel cannot attach kprobes, but bpftrace 0.17 compiles each program against the running
 * kernel's BTF and loads it before it tries to attach: a script that gets to "attaching" is
 * well-formed for this kernel.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { FAMILY_DECODERS } from '../server/decode/decoder.js';
import { HEAD } from '../server/decode/fields.js';
import { widthOf } from '../server/decode/spec.js';
import { FAMILIES } from '../server/model/events.js';
import { Btf } from '../server/probes/btf.js';
import { bpftraceVersion, ensureTracingMounts } from '../server/probes/host.js';
import { DEFAULT_PROFILE, POLL_TARGETS, profileFromBtf, type KernelProfile } from '../server/probes/profile.js';
import { renderProgram } from '../server/probes/resolve.js';
import { renderFamily, renderScript, scriptSource, STACK_DEPTH, withStacks } from '../server/probes/scripts.js';
import { KPROBE_FAMILIES } from '../server/model/events.js';

/** Every printf in a script: its tag and how many conversions its format has. */
function printfs(script: string): { tag: string; conversions: number }[] {
  const out: { tag: string; conversions: number }[] = [];
  for (const m of script.matchAll(/printf\("([^"]*)"/g)) {
    const fmt = m[1]!;
    out.push({ tag: fmt.split('\\t')[0]!, conversions: (fmt.match(/%[a-z]+/g) ?? []).length });
  }
  return out;
}

describe('probe scripts match the decoders', () => {
  const specs = new Map<string, (typeof FAMILY_DECODERS)[number]['records'][number] & { family: string }>(
    FAMILY_DECODERS.flatMap((d) => d.records.map((r) => [r.tag, { family: d.family, ...r }] as const)),
  );

  for (const family of FAMILIES) {
    it(`${family}: every record printed has a decoder with the same field count`, () => {
      const script = renderScript(scriptSource(family), DEFAULT_PROFILE);
      const printed = printfs(script);
      expect(printed.length).toBeGreaterThan(0);
      for (const p of printed) {
        const spec = specs.get(p.tag);
        expect(spec, `decoder for "${p.tag}"`).toBeDefined();
        expect(spec!.family).toBe(family);
        // tag is literal; the head's nsecs, cpu, pid, tid, then the fields, then comm
        expect(p.conversions, `"${p.tag}" conversions`).toBe(HEAD - 1 + widthOf(spec!) + 1);
      }
      const decoded = FAMILY_DECODERS.find((d) => d.family === family)!.records.map((r) => r.tag);
      expect(
        decoded.filter((t) => !printed.some((p) => p.tag === t)),
        'decoded but never printed',
      ).toEqual([]);
    });
  }

  it('every record of the kprobe families ends with comm then the kernel stack; the syscalls fallback has none', () => {
    for (const family of FAMILIES) {
      const script = renderFamily(family, DEFAULT_PROFILE);
      const calls = [...script.matchAll(/printf\("([a-z_]+)\\t[^;]*;/g)].map((m) => m[0]);
      expect(calls.length).toBeGreaterThan(0);
      for (const c of calls) {
        if ((KPROBE_FAMILIES as readonly string[]).includes(family)) {
          expect(c, c).toMatch(new RegExp(`%s\\\\t\\\\n(return)?%s",[\\s\\S]*\\bcomm, kstack\\(${STACK_DEPTH}\\)\\);$`));
        } else expect(c).not.toContain('kstack');
      }
    }
  });

  it("adds the stack to a record it has never seen, marks a kretprobe's as taken at the return, and refuses a record not ending in comm", () => {
    const src = [
      'kprobe:brand_new_fn',
      '/@x[arg0]/',
      '{',
      '  printf("newrec\\t%llu\\t%u\\t%d\\t%d\\t%lx\\t%s", nsecs, cpu, pid, tid,',
      '         arg0, comm);',
      '}',
      'kretprobe:brand_new_fn',
      '{',
      '  printf("newrec_r\\t%llu\\t%u\\t%d\\t%d\\t%s", nsecs, cpu, pid, tid, comm);',
      '}',
    ].join('\n');
    const out = withStacks(src, 'test');
    expect(out).toContain(
      'printf("newrec\\t%llu\\t%u\\t%d\\t%d\\t%lx\\t%s\\t\\n%s", nsecs, cpu, pid, tid,\n         arg0, comm, kstack(16));',
    );
    expect(out).toContain('printf("newrec_r\\t%llu\\t%u\\t%d\\t%d\\t%s\\t\\nreturn%s", nsecs, cpu, pid, tid, comm, kstack(16));');
    expect(() => withStacks('kprobe:f\n{\n  printf("odd\\t%llu\\t%s", comm, nsecs);\n}', 'test')).toThrow(
      /record "odd" does not end in comm/,
    );
  });

  it("epoll.bt probes each of POLL_TARGETS, and tells ep_item_poll's end which of them are probed", () => {
    const src = scriptSource('epoll');
    const probed = [...src.matchAll(/^kprobe:([a-z_]+_poll)$/gm)].map((m) => m[1]);
    expect(probed).toEqual([...POLL_TARGETS]);
    const two = renderScript(src, { ...DEFAULT_PROFILE, pollTargets: ['pipe_poll', 'sock_poll'] });
    expect(two).toContain('($fn == kaddr("pipe_poll") || $fn == kaddr("sock_poll"))');
    // Without the kernel's symbols no ->poll() counts as probed: such flags say "cannot tell".
    expect(renderScript(src, DEFAULT_PROFILE)).toMatch(/ksym\(\$fn\), comm\);/);
    expect(renderScript(src, DEFAULT_PROFILE)).toContain('@ep_polled[tid], 0, (uint32)retval');
  });

  it('renders every placeholder for both generations of struct file', () => {
    for (const fileRefs of ['f_count', 'f_ref'] as const) {
      const profile: KernelProfile = { ...DEFAULT_PROFILE, fileRefs };
      const p = renderProgram(FAMILIES, profile);
      expect(p.text).not.toMatch(/\$\{/);
      expect(p.text).toContain(fileRefs === 'f_ref' ? 'f_ref.refcnt.counter + 1' : 'f_count.counter');
      expect(Object.keys(p.hashes)).toEqual([...FAMILIES]);
    }
  });
});

describe("probe scripts on this machine's kernel", () => {
  let profile: KernelProfile;
  const dir = mkdtempSync(join(tmpdir(), 'lifetrace-probes-'));

  beforeAll(async () => {
    expect(await bpftraceVersion(), 'bpftrace must be installed (apt-get install bpftrace)').toMatch(/bpftrace v0\.\d+/);
    expect(await ensureTracingMounts()).toEqual([]);
    profile = profileFromBtf(await Btf.load());
  });

  it("reads the running kernel's BTF", async () => {
    const btf = await Btf.load();
    expect(btf.hasField('dentry', 'd_lockref.count')).toBe(true);
    expect(btf.hasField('file', 'f_path.dentry')).toBe(true);
    expect(btf.hasField('file', 'no_such_field')).toBe(false);
    expect(btf.params('fd_install')).toEqual(['fd', 'file']);
    expect(btf.params('no_such_function_at_all')).toBeUndefined();
    expect(btf.hasField('file', 'f_ref.refcnt.counter') || btf.hasField('file', 'f_count.counter')).toBe(true);
  });

  for (const family of [...FAMILIES, 'all'] as const) {
    it(`${family}: compiles and loads, failing at most at attach`, async () => {
      const program = renderProgram(family === 'all' ? FAMILIES : [family], profile);
      const path = join(dir, `${family}.bt`);
      writeFileSync(path, program.text);
      const child = execa('bpftrace', ['-f', 'json', path], { reject: false, timeout: 120_000, all: true, buffer: true });
      // Where everything attaches (tracepoints here, or a kernel with kprobes), BEGIN's `ready`
      // record says so: stop there.
      child.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('"data": "ready')) child.kill('SIGINT');
      });
      const r = await child;
      const errors = r.all.split('\n').filter((l) => /ERROR/.test(l) && !/RLIMIT_MEMLOCK|Error attaching probe/.test(l));
      expect(errors, r.all.slice(0, 2000)).toEqual([]);
      expect(r.timedOut, 'bpftrace neither attached nor failed to').toBe(false);
      expect(r.all).toMatch(/"data": "ready|Error attaching probe/);
    }, 150_000);
  }
});
