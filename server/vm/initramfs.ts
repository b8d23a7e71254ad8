/**
 * The guest's initramfs: a static busybox, the 9p modules, and an init that mounts the host's root
 * read-only, a writable exchange folder, proc/sys/dev/devpts/tmpfs/debugfs/tracefs, then runs the
 * job script chrooted into the host's root (so the guest runs the host's node, bpftrace and
 * stress-ng unchanged) and powers off.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { cpioNewc, DIR, EXEC, FILE, type CpioEntry } from './cpio.js';
import { VmSetupError, type UnpackedKernel } from './kernels.js';

/** What the 9p filesystem needs, leaves last; built-in ones (6.12: virtio_pci, fscache) are skipped. */
const WANTED = ['virtio_ring', 'virtio', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci', 'netfs', 'fscache', '9pnet', '9pnet_virtio', '9p'];

/**
 * Where the exchange share is mounted, as seen inside the chroot. The guest sees the host's /tmp
 * (read-only, like the rest: a project checked out under /tmp must be visible); its own writable
 * scratch space is a tmpfs on /var/tmp, which is also its TMPDIR.
 */
export const GUEST_XCH = '/var/tmp/lifetrace-xch';
export const GUEST_TMP = '/var/tmp';

const BUSYBOX = '/bin/busybox';

function initScript(modules: string[]): string {
  const bb = BUSYBOX;
  return `#!${bb} sh
${bb} mkdir -p /proc /sys /dev /host
${bb} mount -t proc proc /proc
${bb} mount -t sysfs sys /sys
${bb} hostname lifetrace-guest
${bb} mount -t devtmpfs dev /dev
${modules.map((m) => `${bb} insmod /modules/${m}.ko`).join('\n')}
${bb} mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 host /host || { echo "lifetrace-guest: cannot mount host root (a kernel without modules needs 9p and virtio built in)"; ${bb} poweroff -f; }
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
${bb} mkdir -p /host${GUEST_XCH}
${bb} mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 xch /host${GUEST_XCH}
echo "lifetrace-guest: up $(${bb} cat /proc/uptime)"
HOME=${GUEST_TMP} TMPDIR=${GUEST_TMP} PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin ${bb} chroot /host /bin/sh ${GUEST_XCH}/job.sh > /host${GUEST_XCH}/job.log 2>&1
echo $? > /host${GUEST_XCH}/job.exit
${bb} sync
echo "lifetrace-guest: done"
${bb} poweroff -f
`;
}

/** Module files in load order, decompressed (busybox insmod cannot read .ko.xz). */
async function moduleFiles(k: UnpackedKernel): Promise<{ name: string; data: Buffer }[]> {
  // A kernel image without a modules folder (a bug kernel, a developer's build): 9p is built in.
  if (k.modulesDir === undefined) return [];
  const modulesDir = k.modulesDir;
  if (!existsSync(join(modulesDir, 'modules.dep'))) {
    // The package ships no modules.dep (depmod runs at install time): make one in the cache.
    const r = await execa('depmod', ['-b', join(modulesDir, '..', '..', '..'), k.release], { reject: false, all: true });
    if (r.exitCode !== 0) throw new VmSetupError(`depmod failed (apt-get install kmod): ${r.all.trim()}`);
  }
  const dep = await readFile(join(modulesDir, 'modules.dep'), 'utf8');
  const paths = new Map<string, string>();
  for (const line of dep.split('\n')) {
    const path = line.split(':')[0]!;
    const base = path.split('/').pop()!.replace(/\.ko(\.xz|\.zst|\.gz)?$/, '');
    if (base) paths.set(base.replace(/-/g, '_'), path);
  }
  const out: { name: string; data: Buffer }[] = [];
  for (const m of WANTED) {
    const rel = paths.get(m);
    if (rel === undefined) continue; // built in
    const file = join(modulesDir, rel);
    if (!existsSync(file)) throw new VmSetupError(`module ${m} listed but missing at ${file}`);
    const data = rel.endsWith('.xz') ? (await execa('xz', ['-dc', file], { encoding: 'buffer' })).stdout : await readFile(file);
    out.push({ name: m, data: Buffer.from(data) });
  }
  if (!out.some((m) => m.name === '9p') && !(await builtIn(modulesDir, '9p'))) throw new VmSetupError(`kernel ${k.release} has no 9p module`);
  return out;
}

async function builtIn(modulesDir: string, m: string): Promise<boolean> {
  const b = await readFile(join(modulesDir, 'modules.builtin'), 'utf8').catch(() => '');
  return b.split('\n').some((l) => l.endsWith(`/${m}.ko`));
}

export async function buildInitramfs(k: UnpackedKernel, out: string): Promise<void> {
  if (!existsSync(BUSYBOX)) throw new VmSetupError(`${BUSYBOX} is missing: apt-get install busybox-static`);
  const busybox = await readFile(BUSYBOX);
  if (busybox.includes(Buffer.from('/lib64/ld-linux'))) throw new VmSetupError(`${BUSYBOX} is not static: apt-get install busybox-static`);
  const modules = await moduleFiles(k);
  const entries: CpioEntry[] = [
    { path: 'bin', mode: DIR },
    { path: 'bin/busybox', mode: EXEC, data: busybox },
    { path: 'modules', mode: DIR },
    ...modules.map((m) => ({ path: `modules/${m.name}.ko`, mode: FILE, data: m.data })),
    { path: 'init', mode: EXEC, data: Buffer.from(initScript(modules.map((m) => m.name))) },
  ];
  await writeFile(out, gzipSync(cpioNewc(entries)));
}
