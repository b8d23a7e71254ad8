/**
 * The kernels a guest boots. Stock Debian kernels: which package, fetched with apt-get and unpacked
 * once into a cache. 6.1 is bookworm's default kernel; 6.12 (bookworm-backports-era, unsigned) is
 * the second generation of every lifetime lifetrace follows (eventfs, __fput_sync, 6.8 dentry kill).
 * Or any kernel image given by path (a developer's own build, a bug kernel from build-kernel.ts),
 * with an optional modules folder: without one, everything the guest needs must be built in.
 */
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, realpath, rm, statfs } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { err, ok, type Result } from '../support/result.js';

export const GUEST_KERNELS = ['6.1', '6.12'] as const;
export type StockKernel = (typeof GUEST_KERNELS)[number];
/** A kernel image the user names: a bzImage, and the folder of its modules (lib/modules/RELEASE) if it has any. */
export interface PathKernel {
  image: string;
  modules?: string | undefined;
}
export type GuestKernel = StockKernel | PathKernel;

export const isStockKernel = (k: GuestKernel): k is StockKernel => typeof k === 'string';

/** How messages name a guest kernel: "Debian 6.1", or the image's path. */
export function kernelLabel(k: GuestKernel): string {
  return isStockKernel(k) ? `Debian ${k}` : k.image;
}

export function cacheDir(): string {
  return process.env.LIFETRACE_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'lifetrace');
}

/** Whether a tool a guest needs is installed; an error that says which package has it. */
async function need(tool: string, pkg: string): Promise<Result<void>> {
  const r = await execa('sh', ['-c', 'command -v "$1"', 'sh', tool], { reject: false });
  return r.exitCode === 0 ? ok(undefined) : err(`${tool} is missing: apt-get install ${pkg}`);
}

/** The Debian package that carries the kernel image for a guest generation. */
export async function kernelPackage(k: StockKernel): Promise<Result<string>> {
  const apt = await need('apt-cache', 'apt');
  if (!apt.ok) return apt;
  if (k === '6.1') {
    const r = await execa('apt-cache', ['depends', 'linux-image-amd64'], { reject: false });
    const m = /Depends: (linux-image-6\.1\.0-\d+-amd64)\b/.exec(r.stdout);
    if (m) return ok(m[1]!);
  } else {
    const r = await execa('apt-cache', ['search', '--names-only', '^linux-image-6\\.12\\.[0-9]+\\+deb12-amd64-unsigned$'], {
      reject: false,
    });
    const names = r.stdout
      .split('\n')
      .map((l) => l.split(' ')[0]!)
      .filter(Boolean);
    names.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    if (names.length > 0) return ok(names[names.length - 1]!);
  }
  return err(`no Debian package found for a ${k} kernel: run 'apt-get update' first`);
}

export interface UnpackedKernel {
  generation: GuestKernel;
  /** The Debian package, for stock kernels. */
  package?: string | undefined;
  release: string;
  vmlinuz: string;
  /** lib/modules/RELEASE; undefined when the kernel has no modules (9p and virtio built in). */
  modulesDir: string | undefined;
}

/**
 * The files a guest boots: a stock kernel is downloaded once, a path kernel is checked. An error
 * when they cannot be had (a tool or package missing, no such image), the user's to fix.
 */
export async function guestKernelFiles(k: GuestKernel, log: (s: string) => void = () => {}): Promise<Result<UnpackedKernel>> {
  return isStockKernel(k) ? fetchKernel(k, log) : pathKernel(k);
}

/** Downloads and unpacks the kernel package into the cache (once). */
export async function fetchKernel(k: StockKernel, log: (s: string) => void = () => {}): Promise<Result<UnpackedKernel>> {
  const found = await kernelPackage(k);
  if (!found.ok) return found;
  const pkg = found.value;
  const dir = join(cacheDir(), 'kernels', pkg);
  const root = join(dir, 'root');
  if (!existsSync(join(dir, '.unpacked'))) {
    const dpkg = await need('dpkg-deb', 'dpkg');
    if (!dpkg.ok) return dpkg;
    await mkdir(cacheDir(), { recursive: true });
    const fs = await statfs(cacheDir());
    const freeMb = (fs.bavail * fs.bsize) / (1 << 20);
    if (freeMb < 600)
      return err(
        `not enough space in ${cacheDir()} for a kernel package (${freeMb.toFixed(0)} MB free, 600 MB needed): set LIFETRACE_CACHE to a larger disk`,
      );
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    log(`lifetrace: downloading ${pkg} (once; cached in ${dir})`);
    const dl = await execa('apt-get', ['download', pkg], { cwd: dir, reject: false, all: true });
    if (dl.exitCode !== 0) return err(`apt-get download ${pkg} failed: ${dl.all.trim().split('\n').slice(-3).join(' ')}`);
    const deb = (await readdir(dir)).find((f) => f.endsWith('.deb'));
    if (!deb) return err(`apt-get download ${pkg} produced no .deb`);
    await execa('dpkg-deb', ['-x', join(dir, deb), root]);
    await rm(join(dir, deb));
    await execa('touch', [join(dir, '.unpacked')]);
  }
  const boot = await readdir(join(root, 'boot'));
  const vmlinuz = boot.find((f) => f.startsWith('vmlinuz-'));
  if (!vmlinuz) return err(`${pkg} has no /boot/vmlinuz-*`);
  const release = vmlinuz.slice('vmlinuz-'.length);
  return ok({
    generation: k,
    package: pkg,
    release,
    vmlinuz: join(root, 'boot', vmlinuz),
    modulesDir: join(root, 'lib', 'modules', release),
  });
}

/**
 * The release string a bzImage carries (what uname -r prints in it): the x86 boot protocol's
 * setup header points at "RELEASE (builder) #N ..." (kernel_version, offset 0x20e, plus 0x200).
 */
export async function bzImageRelease(image: string): Promise<Result<string>> {
  const f = await open(image, 'r').catch(() => undefined);
  if (f === undefined) return err(`no kernel image at ${image}`);
  try {
    const head = Buffer.alloc(0x10000); // the string lives in the setup code, within its first 32 KB
    const { bytesRead } = await f.read(head, 0, head.length, 0);
    if (bytesRead < 0x210 || head.toString('latin1', 0x202, 0x206) !== 'HdrS')
      return err(`${image} is not an x86 bzImage (no boot protocol header)`);
    const at = head.readUInt16LE(0x20e) + 0x200;
    if (at >= bytesRead) return err(`${image}: the bzImage names no kernel release`);
    const end = head.indexOf(0, at);
    const release = head.toString('latin1', at, end < 0 ? Math.min(at + 256, bytesRead) : end).split(' ')[0] ?? '';
    return release === '' ? err(`${image}: the bzImage names no kernel release`) : ok(release);
  } finally {
    await f.close();
  }
}

async function pathKernel(k: PathKernel): Promise<Result<UnpackedKernel>> {
  const vmlinuz = await realpath(k.image).catch(() => undefined);
  if (vmlinuz === undefined) return err(`no kernel image at ${k.image}`);
  const named = await bzImageRelease(vmlinuz);
  if (!named.ok) return named;
  const release = named.value;
  let modulesDir: string | undefined;
  if (k.modules !== undefined) {
    modulesDir = await realpath(k.modules).catch(() => undefined);
    if (modulesDir === undefined) return err(`no modules folder at ${k.modules}`);
    // Accept lib/modules/RELEASE itself or a folder that holds it (an INSTALL_MOD_PATH).
    for (const sub of [join(modulesDir, 'lib', 'modules', release), join(modulesDir, release)]) if (existsSync(sub)) modulesDir = sub;
    if (basename(modulesDir) !== release)
      return err(`the modules folder ${k.modules} is not lib/modules/${release} (the image is ${release})`);
  }
  return ok({ generation: k, release, vmlinuz, modulesDir });
}
