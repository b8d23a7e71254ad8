/**
 * Bug kernels: Debian's own linux-source-6.1 with one historical fix reverted, built small for the
 * QEMU guest (everything it needs built in, no modules) and cached under ~/.cache/lifetrace. On
 * such a kernel the rule that names the fix must raise an error: the truth table's positive rows.
 *
 * The recipe: x86_64 defconfig + the tree's kvm_guest.config + server/vm/kernel-build/lifetrace-guest.config
 * (merged by the kernel's own merge_config.sh, then olddefconfig), every option of the fragment
 * checked in the final .config, `make bzImage`. The cache key hashes the patch, the fragment and
 * this recipe's version; the source's Debian version names the folder. Without a bug it builds the
 * same kernel with the fix in place: the control.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { projectPath } from '../support/paths.js';
import { err, ok, type Result } from '../support/result.js';
import { cacheDir } from './kernels.js';

/** A historical fix undone by a small patch (server/vm/kernel-build/bugs/NAME.patch, a unified diff for patch -p1). */
export interface BugSpec {
  name: string;
  /** The upstream commit whose effect the patch reverts, and its subject. */
  reverts: { commit: string; subject: string };
  /** The file and function the patch changes (the test checks the built source there). */
  file: string;
  func: string;
  /** The lifetrace rule that must flag the bug on this kernel, and with which severity. */
  caughtBy: { rule: string; severity: 'error' | 'warning' };
  about: string;
}

export const BUGS = {
  'epoll-poll': {
    name: 'epoll-poll',
    reverts: { commit: '4efaa5acf0a1', subject: 'epoll: be better about file lifetimes' },
    file: 'fs/eventpoll.c',
    func: 'ep_item_poll',
    caughtBy: { rule: 'epoll.poll-on-dying-file', severity: 'error' },
    about:
      'ep_item_poll() calls ->poll() on the target file without taking a reference (no epi_fget()), as before 6.9: a file in its final __fput is polled',
  },
} as const satisfies Record<string, BugSpec>;
export type BugName = keyof typeof BUGS;
export const isBugName = (s: string): s is BugName => Object.hasOwn(BUGS, s);

const SOURCE_PACKAGE = 'linux-source-6.1';
const SOURCE_TARBALL = '/usr/src/linux-source-6.1.tar.xz';
const INSTALL_HINT = 'apt-get install linux-source-6.1 dwarves flex bison libelf-dev libssl-dev bc';
/** Bump when the steps below change what gets built from the same patch and fragment. */
const RECIPE = 'lifetrace-kbuild/1';

export interface BuiltKernel {
  /** undefined: the control kernel (same config, no fix reverted). */
  bug: BugName | undefined;
  /** Debian's version of linux-source-6.1, e.g. 6.1.192-2. */
  sourceVersion: string;
  key: string;
  dir: string;
  image: string;
  config: string;
  systemMap: string;
  /** The patched files as built (only for a bug kernel), under dir/source/. */
  sources: string[];
  /** How long the build took (0 when it came from the cache). */
  buildSeconds: number;
  cached: boolean;
}

interface Ready {
  bug: string | null;
  sourceVersion: string;
  key: string;
  buildSeconds: number;
  builtAt: string;
  release: string;
  sources: string[];
}

export const fragmentPath = (): string => projectPath('server', 'vm', 'kernel-build', 'lifetrace-guest.config');
export const patchPath = (bug: BugName): string => projectPath('server', 'vm', 'kernel-build', 'bugs', `${bug}.patch`);

/** The version of Debian's kernel source package, or a message that says how to install it. */
export async function kernelSourceVersion(): Promise<Result<string>> {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
  const r = await execa('dpkg-query', ['-W', '-f', '${Status}\t${Version}', SOURCE_PACKAGE], { reject: false });
  const [status, version] = r.stdout.split('\t');
  if (r.exitCode !== 0 || !status?.endsWith(' installed') || !version || !existsSync(SOURCE_TARBALL)) {
    return err(`Debian's kernel source is not installed (${SOURCE_TARBALL}): ${INSTALL_HINT}`);
  }
  return ok(version);
}

async function checkTools(): Promise<Result<void>> {
  const missing: string[] = [];
  for (const tool of ['make', 'gcc', 'flex', 'bison', 'bc', 'pahole', 'patch', 'tar', 'xz', 'perl']) {
    const r = await execa('sh', ['-c', 'command -v "$1"', 'sh', tool], { reject: false });
    if (r.exitCode !== 0) missing.push(tool);
  }
  for (const header of ['/usr/include/libelf.h', '/usr/include/openssl/ssl.h']) if (!existsSync(header)) missing.push(header);
  return missing.length > 0 ? err(`building a kernel needs ${missing.join(', ')}: ${INSTALL_HINT}`) : ok(undefined);
}

/** What names a build: the patch and fragment bytes and the recipe, not their paths or times. */
export async function buildKey(bug: BugName | undefined): Promise<string> {
  const h = createHash('sha256');
  const parts = [RECIPE, bug ? await readFile(patchPath(bug), 'utf8') : '', await readFile(fragmentPath(), 'utf8')];
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 10);
}

const kernelName = (bug: BugName | undefined, version: string, key: string): string => `${bug ? `bug-${bug}` : 'guest'}-${version}-${key}`;

/** Where builds happen: a scratch folder with room for a kernel tree (about 3 GB with debug info). */
const buildRoot = (): string => process.env.LIFETRACE_KBUILD_DIR ?? '/var/tmp/lifetrace-kbuild';

/** The paths a patch changes (its "+++ b/PATH" lines). */
export function patchedFiles(patch: string): string[] {
  return [...patch.matchAll(/^\+\+\+ b\/(\S+)/gm)].map((m) => m[1]!);
}

/** The fragment's options: CONFIG_X=value lines (value "n": must end up unset). */
export function fragmentOptions(fragment: string): [string, string][] {
  return fragment
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^CONFIG_\w+=/.test(l))
    .map((l) => {
      const eq = l.indexOf('=');
      return [l.slice(0, eq), l.slice(eq + 1)];
    });
}

/** The fragment's options that did not survive into .config (a dependency turned them off). */
export function missingOptions(fragment: string, config: string): string[] {
  const have = new Map<string, string>();
  for (const l of config.split('\n')) {
    const m = /^(CONFIG_\w+)=(.*)$/.exec(l);
    if (m) have.set(m[1]!, m[2]!);
  }
  return fragmentOptions(fragment)
    .filter(([k, v]) => (v === 'n' ? have.has(k) : have.get(k) !== v))
    .map(([k, v]) => `${k}=${v} (have ${have.get(k) ?? 'unset'})`);
}

/** The cached kernel, if it was built (undefined if not); an error without Debian's kernel source. */
export async function cachedKernel(bug: BugName | undefined): Promise<Result<BuiltKernel | undefined>> {
  const source = await kernelSourceVersion();
  if (!source.ok) return source;
  const version = source.value;
  const key = await buildKey(bug);
  const dir = join(cacheDir(), 'kernels', kernelName(bug, version, key));
  const ready = await readFile(join(dir, 'ready.json'), 'utf8')
    .then((s) => JSON.parse(s) as Ready)
    .catch(() => undefined);
  if (!ready) return ok(undefined);
  return ok({
    bug,
    sourceVersion: version,
    key,
    dir,
    image: join(dir, 'bzImage'),
    config: join(dir, 'config'),
    systemMap: join(dir, 'System.map'),
    sources: ready.sources.map((f) => join(dir, 'source', f)),
    buildSeconds: 0,
    cached: true,
  });
}

export interface BuildOptions {
  log?: (s: string) => void;
  /** Parallel jobs (default: the number of CPUs). */
  jobs?: number;
  /** Keep the build tree (default: removed once the kernel is in the cache). */
  keepTree?: boolean;
}

/**
 * The bug kernel's image, built once: `bugKernel('epoll-poll')`. An interrupted build resumes in
 * its tree (make is incremental). undefined builds the control kernel (no fix reverted). An error
 * when the source or a tool is missing, or a step of the build fails (with the end of its output).
 */
export async function bugKernel(bug: BugName | undefined, o: BuildOptions = {}): Promise<Result<BuiltKernel>> {
  const log = o.log ?? (() => {});
  const cached = await cachedKernel(bug);
  if (!cached.ok) return cached;
  if (cached.value) {
    log(`lifetrace: ${cached.value.image} (cached)`);
    return ok(cached.value);
  }
  const tools = await checkTools();
  if (!tools.ok) return tools;
  const source = await kernelSourceVersion();
  if (!source.ok) return source;
  const version = source.value;
  const key = await buildKey(bug);
  const name = kernelName(bug, version, key);
  const dir = join(cacheDir(), 'kernels', name);
  const work = join(buildRoot(), name);
  const src = join(work, 'linux-source-6.1');
  const started = Date.now();
  const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(0)} s`;
  await mkdir(work, { recursive: true });
  log(
    `lifetrace: building ${name} in ${work} (${bug ? `${BUGS[bug].reverts.commit} reverted in ${BUGS[bug].func}()` : 'control: no fix reverted'})`,
  );

  if (!existsSync(join(work, 'extracted'))) {
    log(`lifetrace: extracting ${SOURCE_TARBALL}`);
    await rm(src, { recursive: true, force: true });
    const tar = await run('tar', ['-xf', SOURCE_TARBALL, '-C', work], work);
    if (!tar.ok) return tar;
    if (!existsSync(join(src, 'Makefile'))) return err(`${SOURCE_TARBALL} did not unpack to ${src}`);
    await writeFile(join(work, 'extracted'), '');
  }
  const patch = bug ? await readFile(patchPath(bug), 'utf8') : '';
  if (bug && !existsSync(join(work, 'patched'))) {
    log(`lifetrace: applying ${patchPath(bug)}`);
    const patched = await run('patch', ['-p1', '--forward', '--batch', '-i', patchPath(bug)], src);
    if (!patched.ok) return patched;
    await writeFile(join(work, 'patched'), '');
  }
  const fragment = await readFile(fragmentPath(), 'utf8');
  if (!existsSync(join(work, 'configured'))) {
    log('lifetrace: configuring: x86_64_defconfig + kvm_guest.config + server/vm/kernel-build/lifetrace-guest.config, olddefconfig');
    for (const [cmd, args] of [
      ['make', ['x86_64_defconfig']],
      ['scripts/kconfig/merge_config.sh', ['-m', '.config', 'kernel/configs/kvm_guest.config', fragmentPath()]],
      ['make', ['olddefconfig']],
    ] as const) {
      const step = await run(cmd, [...args], src);
      if (!step.ok) return step;
    }
    await writeFile(join(work, 'configured'), '');
  }
  const missing = missingOptions(fragment, await readFile(join(src, '.config'), 'utf8'));
  if (missing.length > 0) return err(`the kernel config lost options the guest needs (a dependency is off): ${missing.join(', ')}`);

  const jobs = o.jobs ?? cpus().length;
  log(
    `lifetrace: make -j${jobs} bzImage (nice; 10 min on this 2-core machine lightly loaded, 73 min beside other QEMU guests: see the README)`,
  );
  const made = await makeWithProgress(src, ['-j', String(jobs), 'bzImage'], join(work, 'build.log'), (line) =>
    log(`lifetrace: [${elapsed()}] ${line}`),
  );
  if (!made.ok) return made;
  const buildSeconds = Math.round((Date.now() - started) / 1000);

  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'source'), { recursive: true });
  await copyFile(join(src, 'arch/x86/boot/bzImage'), join(dir, 'bzImage'));
  await copyFile(join(src, '.config'), join(dir, 'config'));
  await copyFile(join(src, 'System.map'), join(dir, 'System.map'));
  const sources = patchedFiles(patch);
  for (const f of sources) {
    await mkdir(dirname(join(dir, 'source', f)), { recursive: true });
    await copyFile(join(src, f), join(dir, 'source', f));
  }
  if (bug) await copyFile(patchPath(bug), join(dir, `${bug}.patch`));
  const release = (await readFile(join(src, 'include/config/kernel.release'), 'utf8')).trim();
  const ready: Ready = { bug: bug ?? null, sourceVersion: version, key, buildSeconds, builtAt: new Date().toISOString(), release, sources };
  await writeFile(join(dir, 'ready.json'), `${JSON.stringify(ready, null, 2)}\n`);
  if (!o.keepTree) await rm(work, { recursive: true, force: true });
  log(`lifetrace: built ${release} in ${buildSeconds} s: ${join(dir, 'bzImage')}`);
  return ok({
    bug,
    sourceVersion: version,
    key,
    dir,
    image: join(dir, 'bzImage'),
    config: join(dir, 'config'),
    systemMap: join(dir, 'System.map'),
    sources: sources.map((f) => join(dir, 'source', f)),
    buildSeconds,
    cached: false,
  });
}

async function run(cmd: string, args: string[], cwd: string): Promise<Result<void>> {
  const r = await execa(cmd, args, { cwd, reject: false, all: true });
  if (r.exitCode === 0) return ok(undefined);
  return err(`${cmd} ${args.join(' ')} failed (exit ${String(r.exitCode)}):\n${(r.all ?? '').trim().split('\n').slice(-15).join('\n')}`);
}

/** make under nice, its output to a log; every 30 s the line it is at, so a long build shows life. */
async function makeWithProgress(src: string, args: string[], logFile: string, progress: (line: string) => void): Promise<Result<void>> {
  const out = createWriteStream(logFile, { flags: 'a' });
  let last = '';
  let tail: string[] = [];
  const timer = setInterval(() => progress(last || 'starting'), 30_000);
  try {
    const child = execa('nice', ['make', ...args], { cwd: src, reject: false, all: true, buffer: false });
    child.all?.pipe(out, { end: false });
    child.all?.setEncoding('utf8');
    let partial = '';
    child.all?.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) last = l.trim();
      tail = [...tail, ...lines].slice(-30);
    });
    const r = await child;
    if (r.exitCode === 0) return ok(undefined);
    return err(`make ${args.join(' ')} failed (exit ${String(r.exitCode)}; log: ${logFile}):\n${tail.join('\n')}`);
  } finally {
    clearInterval(timer);
    await new Promise((done) => out.end(done));
  }
}
