/**
 * Stock Debian kernels for the guest: which package, fetched with apt-get and unpacked once into a
 * cache. 6.1 is bookworm's default kernel; 6.12 (bookworm-backports-era, unsigned) is the second
 * generation of every lifetime lifetrace follows (eventfs, __fput_sync, 6.8 dentry kill).
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, statfs } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

export const GUEST_KERNELS = ['6.1', '6.12'] as const;
export type GuestKernel = (typeof GUEST_KERNELS)[number];

export class VmSetupError extends Error {}

export function cacheDir(): string {
  return process.env.LIFETRACE_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'lifetrace');
}

async function need(tool: string, pkg: string): Promise<void> {
  const r = await execa('sh', ['-c', 'command -v "$1"', 'sh', tool], { reject: false });
  if (r.exitCode !== 0) throw new VmSetupError(`${tool} is missing: apt-get install ${pkg}`);
}

/** The Debian package that carries the kernel image for a guest generation. */
export async function kernelPackage(k: GuestKernel): Promise<string> {
  await need('apt-cache', 'apt');
  if (k === '6.1') {
    const r = await execa('apt-cache', ['depends', 'linux-image-amd64'], { reject: false });
    const m = /Depends: (linux-image-6\.1\.0-\d+-amd64)\b/.exec(r.stdout);
    if (m) return m[1]!;
  } else {
    const r = await execa('apt-cache', ['search', '--names-only', '^linux-image-6\\.12\\.[0-9]+\\+deb12-amd64-unsigned$'], { reject: false });
    const names = r.stdout.split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
    names.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    if (names.length > 0) return names[names.length - 1]!;
  }
  throw new VmSetupError(`no Debian package found for a ${k} kernel: run 'apt-get update' first`);
}

export interface UnpackedKernel {
  generation: GuestKernel;
  package: string;
  release: string;
  vmlinuz: string;
  modulesDir: string;
}

/** Downloads and unpacks the kernel package into the cache (once). */
export async function fetchKernel(k: GuestKernel, log: (s: string) => void = () => {}): Promise<UnpackedKernel> {
  const pkg = await kernelPackage(k);
  const dir = join(cacheDir(), 'kernels', pkg);
  const root = join(dir, 'root');
  if (!existsSync(join(dir, '.unpacked'))) {
    await need('dpkg-deb', 'dpkg');
    await mkdir(cacheDir(), { recursive: true });
    const fs = await statfs(cacheDir());
    const freeMb = (fs.bavail * fs.bsize) / (1 << 20);
    if (freeMb < 600) throw new VmSetupError(`not enough space in ${cacheDir()} for a kernel package (${freeMb.toFixed(0)} MB free, 600 MB needed): set LIFETRACE_CACHE to a larger disk`);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    log(`lifetrace: downloading ${pkg} (once; cached in ${dir})`);
    const dl = await execa('apt-get', ['download', pkg], { cwd: dir, reject: false, all: true });
    if (dl.exitCode !== 0) throw new VmSetupError(`apt-get download ${pkg} failed: ${dl.all.trim().split('\n').slice(-3).join(' ')}`);
    const deb = (await readdir(dir)).find((f) => f.endsWith('.deb'));
    if (!deb) throw new VmSetupError(`apt-get download ${pkg} produced no .deb`);
    await execa('dpkg-deb', ['-x', join(dir, deb), root]);
    await rm(join(dir, deb));
    await execa('touch', [join(dir, '.unpacked')]);
  }
  const boot = await readdir(join(root, 'boot'));
  const vmlinuz = boot.find((f) => f.startsWith('vmlinuz-'));
  if (!vmlinuz) throw new VmSetupError(`${pkg} has no /boot/vmlinuz-*`);
  const release = vmlinuz.slice('vmlinuz-'.length);
  return { generation: k, package: pkg, release, vmlinuz: join(root, 'boot', vmlinuz), modulesDir: join(root, 'lib', 'modules', release) };
}
