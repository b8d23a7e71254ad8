/**
 * Bug kernels: Debian's linux-source-6.1 built with a historical fix reverted (server/vm/build-kernel.ts),
 * booted with `probes --vm --kernel PATH`. The first run builds the kernel (10 min on two quiet
 * cores: see the README); later runs reuse ~/.cache/lifetrace/kernels.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseKernel } from '../server/cli/trace-args.js';
import { err, ok } from '../server/support/result.js';
import { BUGS, bugKernel, fragmentPath, missingOptions, patchedFiles, patchPath, type BuiltKernel } from '../server/vm/build-kernel.js';
import { bzImageRelease } from '../server/vm/kernels.js';
import { analyzeFile } from '../server/analyze/pipeline.js';
import { buildReport, type AnalysisReport } from '../server/report/build.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

const root = join(import.meta.dirname, '..');
const bin = join(root, 'server', 'bin', 'lifetrace.js');

/** The definition of a C function (from its signature to the closing brace at column 0), not a declaration. */
function cFunction(source: string, name: string): string {
  const start = source.search(new RegExp(`^static [^;{]*\\b${name}\\([^;{]*\\)\\s*\\{`, 'm'));
  expect(start, `${name} not found`).toBeGreaterThanOrEqual(0);
  return source.slice(start, source.indexOf('\n}\n', start) + 3);
}

describe('--kernel PATH', () => {
  it('takes 6.1, 6.12 or the path of an image; --modules only with a path', () => {
    expect(parseKernel(undefined)).toEqual(ok('6.1'));
    expect(parseKernel('6.12')).toEqual(ok('6.12'));
    expect(parseKernel(bin)).toEqual(ok({ image: bin, modules: undefined }));
    expect(parseKernel(bin, root)).toEqual(ok({ image: bin, modules: root }));
    expect(parseKernel('6.2')).toEqual(err(expect.stringMatching(/^--kernel takes 6\.1 or 6\.12 or the path/)));
    expect(parseKernel('/no/such/bzImage')).toEqual(err(expect.stringMatching(/no kernel image at/)));
    expect(parseKernel('6.1', root)).toEqual(err(expect.stringMatching(/--modules goes with --kernel PATH/)));
  });

  it('the bug patch only touches the files it names, and the fragment checks catch a lost option', () => {
    expect(patchedFiles(readFileSync(patchPath('epoll-poll'), 'utf8'))).toEqual(['fs/eventpoll.c']);
    const fragment = 'CONFIG_KPROBES=y\nCONFIG_DRM=n\nCONFIG_LOCALVERSION="-x"\n';
    expect(missingOptions(fragment, 'CONFIG_KPROBES=y\n# CONFIG_DRM is not set\nCONFIG_LOCALVERSION="-x"\n')).toEqual([]);
    expect(missingOptions(fragment, 'CONFIG_DRM=y\nCONFIG_LOCALVERSION="-x"\n')).toEqual([
      'CONFIG_KPROBES=y (have unset)',
      'CONFIG_DRM=n (have y)',
    ]);
  });
});

describe('bug kernel epoll-poll: 4efaa5acf0a1 reverted in ep_item_poll()', () => {
  let k: BuiltKernel;
  let probes: { kernel: string; kprobes: boolean; points: { attach: string; wants: string; resolution: string; target?: string }[] };
  let race: AnalysisReport;

  beforeAll(async () => {
    const built = await bugKernel('epoll-poll', { log: (s) => process.stderr.write(`${s}\n`) });
    if (!built.ok) throw new Error(built.error);
    k = built.value;
    const r = await execa('node', [bin, 'probes', '--vm', '--kernel', k.image, '--json'], {
      cwd: root,
      reject: false,
      all: true,
      timeout: 600_000,
    });
    expect(r.exitCode, r.all.slice(-3000)).toBe(0);
    probes = JSON.parse(r.stdout) as typeof probes;
    // The project's close-race reproducer with the default probes, as on the stock kernels (where
    // test/kernel.test.ts asserts it raises no error).
    const out = join(mkdtempSync(join(tmpdir(), 'lifetrace-bug-')), 'closerace.ljsonl.gz');
    const c = await execa(
      'node',
      [bin, 'capture', '--vm', '--kernel', k.image, '--out', out, '--', 'python3', 'test/kernel/workloads.py', 'closerace'],
      { cwd: root, reject: false, all: true, timeout: 900_000 },
    );
    expect(c.exitCode, c.all.slice(-3000)).toBe(0);
    race = buildReport(await analyzeFile(out));
  }, 4 * 3600_000);

  it('the close race raises epoll.poll-on-dying-file as an error: pipe_poll() entered at f_count 0 inside ep_item_poll(), with its stack', () => {
    expect(race.lost_events).toBe(0);
    const errors = race.flags.filter((f) => f.rule === 'epoll.poll-on-dying-file' && f.severity === 'error');
    expect(errors.length).toBeGreaterThan(0);
    for (const f of errors) {
      expect(f.guard).toMatchObject({ state: 'no' });
      expect(f.guard!.how).toMatch(/^observed: pipe_poll\(\) entered with f_count 0/);
      // The dangerous step itself is evidence: the target's ->poll() entered at count 0, called from
      // ep_item_poll() under epoll_wait, as the kernel's own stack says.
      const call = f.evidence.find((e) => e.event === 'target.poll');
      expect(call, JSON.stringify(f.evidence)).toBeDefined();
      expect(call!.detail).toMatch(/pipe_poll\(file 0x[0-9a-f]+\) entered, count=0/);
      expect(call!.stack![0]).toMatch(/^pipe_poll\+/);
      expect(call!.stack!.some((fr) => fr.startsWith('ep_item_poll'))).toBe(true);
      expect(call!.stack!.some((fr) => fr.startsWith('do_epoll_wait'))).toBe(true);
    }
    // Nothing else is claimed: the reproducer's other flags are the normal path (info).
    expect(race.flags.filter((f) => f.severity !== 'info' && f.rule !== 'epoll.poll-on-dying-file')).toEqual([]);
  });

  it("the built source polls the target file without a reference; Debian's source has the fix", async () => {
    const built = readFileSync(k.sources.find((f) => f.endsWith('/fs/eventpoll.c'))!, 'utf8');
    const poll = cFunction(built, 'ep_item_poll');
    expect(poll).toContain('struct file *file = epi->ffd.file;');
    expect(poll).toContain('res = vfs_poll(file, pt);');
    expect(poll).not.toContain('epi_fget');
    expect(poll).not.toContain('fput(file)');
    // The tarball as Debian ships it: ep_item_poll() takes a reference and skips ->poll() at count 0.
    const stock = (await execa('tar', ['-xOJf', '/usr/src/linux-source-6.1.tar.xz', 'linux-source-6.1/fs/eventpoll.c'])).stdout;
    const fixed = cFunction(stock, 'ep_item_poll');
    expect(fixed).toContain('struct file *file = epi_fget(epi);');
    expect(fixed).toContain('fput(file);');
    expect(BUGS['epoll-poll'].caughtBy).toEqual({ rule: 'epoll.poll-on-dying-file', severity: 'error' });
  }, 120_000);

  it('everything the guest needs is built in', async () => {
    const config = readFileSync(k.config, 'utf8');
    expect(missingOptions(readFileSync(fragmentPath(), 'utf8'), config)).toEqual([]);
    for (const o of [
      'CONFIG_9P_FS=y',
      'CONFIG_DEBUG_INFO_BTF=y',
      'CONFIG_KPROBES=y',
      'CONFIG_FTRACE_SYSCALLS=y',
      'CONFIG_FANOTIFY_ACCESS_PERMISSIONS=y',
      'CONFIG_IKCONFIG_PROC=y',
    ]) {
      expect(config.split('\n')).toContain(o);
    }
    expect(await bzImageRelease(k.image)).toEqual({ ok: true, value: '6.1.192-lifetrace' });
    // ep_item_poll is a symbol of its own (gcc may clone it: ep_item_poll.isra.0), not inlined away.
    expect(readFileSync(k.systemMap, 'utf8')).toMatch(/ t ep_item_poll(\.\w+\.\d+)?\n/);
  });

  it('boots with --kernel PATH: kprobes attach, and the epoll probes resolve', () => {
    expect(probes.kernel).toBe('6.1.192-lifetrace');
    expect(probes.kprobes).toBe(true);
    const res = (attach: string) => probes.points.find((p) => p.attach === attach);
    expect(res('kprobe:__fput')!.resolution).toBe('exact');
    expect(['exact', 'clone']).toContain(res('kprobe:ep_item_poll*')!.resolution);
    expect(res('kprobe:ep_item_poll*')!.target ?? 'ep_item_poll').toMatch(/^ep_item_poll/);
    expect(res('kprobe:ep_ptable_queue_proc')!.resolution).not.toBe('missing');
    // The file family's syscall tracepoints need CONFIG_FTRACE_SYSCALLS (the first build lacked it).
    expect(probes.points.filter((p) => p.attach.startsWith('tracepoint:syscalls:') && p.resolution === 'missing')).toEqual([]);
  });
});
