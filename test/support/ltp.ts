/**
 * The Linux Test Project (LTP), the kernel's own regression suite, built from source at test or
 * bench time into the cache: only the library and the test directories lifetrace is judged on
 * (fanotify, inotify, epoll, pty, read_all). LTP is not packaged in Debian and is never committed
 * here: its source comes from a git directory or a checkout named by LIFETRACE_LTP_SRC.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { cacheDir } from '../../server/vm/kernels.js';

/** The LTP commit the truth table was first measured on (the default source's commit). */
export const LTP_COMMIT = '695827725f4fc14fe583043127e0335c29bbd52d';
/** Where this machine keeps a git directory of LTP (no work tree): the default source. */
const DEFAULT_SRC = '/work/.mirror/linux-test-project+ltp/repo';

export const LTP_GROUPS = ['fanotify', 'inotify', 'epoll', 'pty', 'read_all'] as const;
export type LtpGroup = (typeof LTP_GROUPS)[number];

interface GroupSource {
  /** Directories to build, relative to the LTP tree. */
  dirs: string[];
  /** The runtest file listing the group's command lines, and which of its entries belong to the group. */
  runtest: string;
  entry: RegExp;
}

const GROUPS: Record<LtpGroup, GroupSource> = {
  fanotify: { dirs: ['testcases/kernel/syscalls/fanotify'], runtest: 'syscalls', entry: /^fanotify\d/ },
  inotify: {
    dirs: ['testcases/kernel/syscalls/inotify', 'testcases/kernel/syscalls/inotify_init'],
    runtest: 'syscalls',
    entry: /^inotify/,
  },
  epoll: {
    dirs: ['epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_wait', 'epoll_pwait'].map((d) => `testcases/kernel/syscalls/${d}`),
    runtest: 'syscalls',
    entry: /^epoll_/,
  },
  pty: { dirs: ['testcases/kernel/pty'], runtest: 'pty', entry: /^(pty|ptem|hangup)\d/ },
  // /dev is left out: reading every device node in a guest that shares the host's root is not a
  // lifetime workload, and some nodes block.
  read_all: { dirs: ['testcases/kernel/fs/read_all'], runtest: 'fs', entry: /^read_all_(proc|sys)$/ },
};

export class LtpUnavailable extends Error {}

export interface LtpBuild {
  /** The built tree (LTPROOT for the tests). */
  root: string;
  commit: string;
}

export interface LtpTest {
  group: LtpGroup;
  /** The runtest entry's name (fanotify07, read_all_proc). */
  name: string;
  /** Absolute directory of the binary: the tests run from there (LTP adds its start directory to PATH for helpers). */
  dir: string;
  argv: string[];
}

const git = (dir: string, args: string[]) => execa('git', ['-C', dir, ...args], { reject: false });

/** The source: a git directory (bare or not) archived at LTP_COMMIT (or HEAD), or a plain checkout copied. */
async function locateSource(): Promise<{ kind: 'git'; dir: string; commit: string } | { kind: 'tree'; dir: string; commit: string }> {
  const src = process.env.LIFETRACE_LTP_SRC ?? DEFAULT_SRC;
  const how =
    'set LIFETRACE_LTP_SRC to a clone of the Linux Test Project (git clone of linux-test-project/ltp on GitHub; a bare git directory or a checkout)';
  if (!existsSync(src)) throw new LtpUnavailable(`LTP source not found at ${src}: ${how}`);
  if (existsSync(join(src, 'configure.ac')) && existsSync(join(src, 'testcases'))) {
    const head = await git(src, ['rev-parse', 'HEAD']);
    const dirty = await git(src, ['status', '--porcelain']);
    const commit = head.exitCode === 0 && dirty.stdout.trim() === '' ? head.stdout.trim() : 'worktree';
    return { kind: 'tree', dir: src, commit };
  }
  const pinned = await git(src, ['rev-parse', '--verify', '--quiet', `${LTP_COMMIT}^{commit}`]);
  const commit = pinned.exitCode === 0 ? pinned.stdout.trim() : (await git(src, ['rev-parse', 'HEAD'])).stdout.trim();
  if (!/^[0-9a-f]{40}$/.test(commit)) throw new LtpUnavailable(`${src} is neither an LTP checkout nor an LTP git directory: ${how}`);
  return { kind: 'git', dir: src, commit };
}

async function run(cmd: string, args: string[], cwd: string, what: string): Promise<void> {
  const r = await execa(cmd, args, { cwd, reject: false, all: true });
  if (r.exitCode !== 0) {
    throw new LtpUnavailable(
      `LTP build: ${what} failed (exit ${String(r.exitCode)}); needs gcc, make, autoconf, automake, m4, pkg-config:\n${(r.all ?? '').split('\n').slice(-15).join('\n')}`,
    );
  }
}

/**
 * Builds LTP's library and the groups' test directories into the cache, once per commit (a
 * "worktree" source is rebuilt each time: it may have changed). About 20-40 s on two cores.
 */
export async function ensureLtp(groups: readonly LtpGroup[] = LTP_GROUPS, log: (s: string) => void = () => {}): Promise<LtpBuild> {
  const source = await locateSource();
  const dir = join(cacheDir(), `ltp-${source.commit.slice(0, 12)}`);
  const root = join(dir, 'src');
  const stamp = join(dir, '.built');
  const built = source.commit === 'worktree' ? [] : (await readFile(stamp, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  const missing = groups.filter((g) => !built.includes(g));
  if (missing.length === 0) return { root, commit: source.commit };

  if (built.length === 0) {
    log(`lifetrace: building LTP ${source.commit.slice(0, 12)} from ${source.dir} into ${dir}`);
    const fresh = `${dir}.tmp-${process.pid}`;
    await rm(fresh, { recursive: true, force: true });
    await mkdir(join(fresh, 'src'), { recursive: true });
    if (source.kind === 'git') {
      await run(
        'sh',
        ['-c', 'git -C "$1" archive "$2" | tar -x -C "$3"', 'sh', source.dir, source.commit, join(fresh, 'src')],
        fresh,
        'git archive',
      );
    } else {
      await run('cp', ['-a', `${source.dir}/.`, join(fresh, 'src')], fresh, 'copying the checkout');
    }
    const src = join(fresh, 'src');
    await run('make', ['autotools'], src, 'make autotools');
    await run('./configure', [], src, './configure');
    await run('make', ['-j2', '-C', 'lib'], src, 'make -C lib');
    await rm(dir, { recursive: true, force: true });
    await rename(fresh, dir);
  }
  for (const g of missing) {
    for (const d of GROUPS[g].dirs) await run('make', ['-j2', '-C', d], root, `make -C ${d}`);
    built.push(g);
    await writeFile(stamp, `${built.join('\n')}\n`);
  }
  return { root, commit: source.commit };
}

/** Directory of each built binary by name, over the groups' directories. */
async function binaries(root: string, g: LtpGroup): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const d of GROUPS[g].dirs) {
    for (const f of await readdir(join(root, d))) if (!/\.[a-z]+$/.test(f) && f !== 'Makefile') out.set(f, join(root, d));
  }
  return out;
}

/** The groups' tests as LTP's own runtest files list them, in that order. */
export async function ltpTests(root: string, groups: readonly LtpGroup[]): Promise<LtpTest[]> {
  const tests: LtpTest[] = [];
  for (const g of groups) {
    const bins = await binaries(root, g);
    const text = await readFile(join(root, 'runtest', GROUPS[g].runtest), 'utf8');
    for (const line of text.split('\n')) {
      const [name, ...argv] = line.trim().split(/\s+/);
      if (!name || name.startsWith('#') || !GROUPS[g].entry.test(name)) continue;
      const dir = bins.get(argv[0] ?? '');
      if (dir === undefined) throw new LtpUnavailable(`LTP test ${name}: ${argv[0] ?? '?'} was not built under ${root}`);
      tests.push({ group: g, name, dir, argv });
    }
  }
  return tests;
}

/**
 * The comms (task names, 15 bytes) a group's processes carry: its binaries' names (a test forks
 * without renaming; a helper it execs, such as fanotify_child, is one of the group's binaries).
 */
export async function ltpComms(root: string, g: LtpGroup): Promise<string[]> {
  return [...(await binaries(root, g)).keys()].map((b) => b.slice(0, 15));
}
