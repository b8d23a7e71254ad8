/**
 * The guest's initramfs: a static busybox, the modules 9p and overlayfs need, and an init that
 * brings up the loopback, mounts the host's root over 9p (read-only) under an overlay whose writes
 * go to the guest's memory, proc/sys/dev/devpts/tmpfs/debugfs/tracefs, the guest kernel's own
 * modules and config, and a writable exchange folder, then switches its root there (so the guest
 * runs the host's node, bpftrace and stress-ng unchanged), runs the job and powers off.
 */
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { cpioNewc, DIR, EXEC, FILE, type CpioEntry } from './cpio.js';
import { err, ok, type Result } from '../support/result.js';
import { cacheDir, type UnpackedKernel } from './kernels.js';

/**
 * What the 9p filesystem needs, leaves last, then overlayfs (the writable root); built-in ones
 * (6.12: virtio_pci, fscache; everything on a kernel built for the guest) are skipped.
 */
const WANTED = [
  'virtio_ring',
  'virtio',
  'virtio_pci_legacy_dev',
  'virtio_pci_modern_dev',
  'virtio_pci',
  'netfs',
  'fscache',
  '9pnet',
  '9pnet_virtio',
  '9p',
  'overlay',
];

/**
 * Where the exchange share is mounted, as the job sees it. The guest sees the host's /tmp too (a
 * project checked out under /tmp must be visible); its own scratch space is a tmpfs on /var/tmp,
 * which is also its TMPDIR.
 */
export const GUEST_XCH = '/var/tmp/lifetrace-xch';
export const GUEST_TMP = '/var/tmp';

const BUSYBOX = '/bin/busybox';
/** Where the second stage (PID 1 after the root switch) keeps its busybox: a tmpfs of the new root. */
const STAGE2_DIR = '/run/lifetrace-guest';

/** Host paths the init needs (quoted for its sh: they are the cache's paths, never user input). */
interface InitPaths {
  release: string;
  /** The guest kernel's modules tree on the host, when it has one. */
  modulesDir?: string | undefined;
  /** The guest kernel's config on the host, when known. */
  config?: string | undefined;
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

function initScript(modules: string[], p: InitPaths): string {
  const bb = BUSYBOX;
  return `#!${bb} sh
${bb} mkdir -p /proc /sys /dev /lower /upper /host
${bb} mount -t proc proc /proc
${bb} mount -t sysfs sys /sys
${bb} mount -t devtmpfs dev /dev
${bb} hostname lifetrace-guest
${bb} ip link set lo up || echo "lifetrace-guest: cannot bring up lo"
${modules.map((m) => `${bb} insmod /modules/${m}.ko`).join('\n')}
${bb} mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose host /lower || { echo "lifetrace-guest: cannot mount host root (a kernel without modules needs 9p and virtio built in)"; ${bb} poweroff -f; }
# The job's root: the host's files, writable through an overlay whose upper layer is in the guest's
# memory (the host's files are never written); read-only where the kernel has no overlayfs.
${bb} mount -t tmpfs -o mode=0755 upper /upper
${bb} mkdir -p /upper/data /upper/work
if ${bb} mount -t overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work root /host; then
  lower=/lower
else
  echo "lifetrace-guest: no overlayfs: the root is read-only"
  ${bb} mount --move /lower /host
  lower=/host
fi
${bb} mount -t proc proc /host/proc
${bb} mount -t sysfs sys /host/sys
${bb} mount -t devtmpfs dev /host/dev
${bb} mkdir -p /host/dev/pts /host/dev/shm
${bb} mount -t devpts -o newinstance,ptmxmode=0666 devpts /host/dev/pts
${bb} mount -t tmpfs shm /host/dev/shm
${bb} mount -t tmpfs tmp /host${GUEST_TMP}
${bb} mount -t tmpfs run /host/run
${bb} mount -t debugfs debugfs /host/sys/kernel/debug
${bb} mount -t tracefs tracefs /host/sys/kernel/debug/tracing
${bb} mount -t tracefs tracefs /host/sys/kernel/tracing
# The guest kernel's modules where modprobe looks (the host's own are for another kernel), and its
# config where test suites look when there is no /proc/config.gz.
${bb} mount -t tmpfs modules /host/lib/modules
${p.modulesDir ? `${bb} mkdir -p /host/lib/modules/${q(p.release)} && ${bb} mount --bind "$lower"${q(p.modulesDir)} /host/lib/modules/${q(p.release)}` : '# (this kernel has no modules)'}
${bb} mount -t tmpfs boot /host/boot
${p.config ? `[ -e /proc/config.gz ] || ${bb} cp "$lower"${q(p.config)} /host/boot/config-${q(p.release)}` : '# (no config known for this kernel)'}
${bb} mkdir -p /host${GUEST_XCH} /host${STAGE2_DIR}
${bb} mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 xch /host${GUEST_XCH}
${bb} cp ${bb} /stage2 /host${STAGE2_DIR}/
echo "lifetrace-guest: up $(${bb} cat /proc/uptime)"
# A real root switch, not a chroot: the kernel refuses user namespaces to a chrooted process.
exec ${bb} switch_root /host ${STAGE2_DIR}/busybox sh ${STAGE2_DIR}/stage2
`;
}

/** PID 1 after the root switch: runs the job, records its status, powers off. */
function stage2Script(): string {
  const bb = `${STAGE2_DIR}/busybox`;
  return `HOME=${GUEST_TMP} TMPDIR=${GUEST_TMP} PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/sh ${GUEST_XCH}/job.sh > ${GUEST_XCH}/job.log 2>&1
echo $? > ${GUEST_XCH}/job.exit
${bb} sync
echo "lifetrace-guest: done"
${bb} poweroff -f
`;
}

/** The kernel's config: Debian's boot/config-RELEASE beside the image, a bug kernel's cached config, or a build tree's .config. */
function configFile(k: UnpackedKernel): string | undefined {
  const candidates = [
    join(dirname(k.vmlinuz), `config-${k.release}`),
    join(dirname(k.vmlinuz), 'config'),
    join(dirname(k.vmlinuz), '..', '..', '..', '.config'),
  ];
  return candidates.find((c) => existsSync(c));
}

/** Module files in load order, decompressed (busybox insmod cannot read .ko.xz). */
async function moduleFiles(k: UnpackedKernel): Promise<Result<{ name: string; data: Buffer }[]>> {
  // A kernel image without a modules folder (a bug kernel, a developer's build): 9p is built in.
  if (k.modulesDir === undefined) return ok([]);
  const modulesDir = k.modulesDir;
  if (!existsSync(join(modulesDir, 'modules.dep'))) {
    // The package ships no modules.dep (depmod runs at install time): make one in the cache.
    const r = await execa('depmod', ['-b', join(modulesDir, '..', '..', '..'), k.release], { reject: false, all: true });
    if (r.exitCode !== 0) return err(`depmod failed (apt-get install kmod): ${r.all.trim()}`);
  }
  const dep = await readFile(join(modulesDir, 'modules.dep'), 'utf8');
  const paths = new Map<string, string>();
  for (const line of dep.split('\n')) {
    const path = line.split(':')[0]!;
    const base = path
      .split('/')
      .pop()!
      .replace(/\.ko(\.xz|\.zst|\.gz)?$/, '');
    if (base) paths.set(base.replace(/-/g, '_'), path);
  }
  const out: { name: string; data: Buffer }[] = [];
  for (const m of WANTED) {
    const rel = paths.get(m);
    if (rel === undefined) continue; // built in
    const file = join(modulesDir, rel);
    if (!existsSync(file)) return err(`module ${m} listed but missing at ${file}`);
    const data = rel.endsWith('.xz') ? (await execa('xz', ['-dc', file], { encoding: 'buffer' })).stdout : await readFile(file);
    out.push({ name: m, data: Buffer.from(data) });
  }
  if (!out.some((m) => m.name === '9p') && !(await builtIn(modulesDir, '9p'))) return err(`kernel ${k.release} has no 9p module`);
  return ok(out);
}

async function builtIn(modulesDir: string, m: string): Promise<boolean> {
  const b = await readFile(join(modulesDir, 'modules.builtin'), 'utf8').catch(() => '');
  return b.split('\n').some((l) => l.endsWith(`/${m}.ko`));
}

/**
 * The initramfs for a kernel, built once into the cache. Its name is a hash of what goes in (the
 * init script and the module files), so a changed init never boots from a stale image, and guests
 * of different lifetrace versions sharing the cache do not overwrite each other's.
 */
export async function initramfsFor(k: UnpackedKernel): Promise<Result<string>> {
  if (!existsSync(BUSYBOX)) return err(`${BUSYBOX} is missing: apt-get install busybox-static`);
  const found = await moduleFiles(k);
  if (!found.ok) return found;
  const modules = found.value;
  const init = initScript(
    modules.map((m) => m.name),
    {
      release: k.release,
      modulesDir: k.modulesDir !== undefined && existsSync(k.modulesDir) ? k.modulesDir : undefined,
      config: configFile(k),
    },
  );
  const stage2 = stage2Script();
  const hash = createHash('sha256').update(init).update(stage2);
  for (const m of modules) hash.update(m.name).update(m.data);
  const dir = join(cacheDir(), 'initrd');
  const out = join(dir, `${k.release}-${hash.digest('hex').slice(0, 16)}.gz`);
  if (existsSync(out)) return ok(out);
  const busybox = await readFile(BUSYBOX);
  if (busybox.includes(Buffer.from('/lib64/ld-linux'))) return err(`${BUSYBOX} is not static: apt-get install busybox-static`);
  const entries: CpioEntry[] = [
    { path: 'bin', mode: DIR },
    { path: 'bin/busybox', mode: EXEC, data: busybox },
    { path: 'modules', mode: DIR },
    ...modules.map((m) => ({ path: `modules/${m.name}.ko`, mode: FILE, data: m.data })),
    { path: 'init', mode: EXEC, data: Buffer.from(init) },
    { path: 'stage2', mode: FILE, data: Buffer.from(stage2) },
  ];
  await mkdir(dir, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  await writeFile(tmp, gzipSync(cpioNewc(entries)));
  await rename(tmp, out); // whole or not at all: another process may be booting the same kernel
  return ok(out);
}
