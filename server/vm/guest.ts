/**
 * Runs a shell job inside a disposable QEMU guest booted on a stock Debian kernel (TCG: the host
 * kernel cannot attach kprobes and KVM guests hang here). The guest sees the host's root read-only
 * and an exchange folder read-write; it has no network device.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { buildInitramfs, GUEST_XCH } from './initramfs.js';
import { guestKernelFiles, VmSetupError, type GuestKernel, type UnpackedKernel } from './kernels.js';

export interface GuestJob {
  kernel: GuestKernel;
  /** sh script run chrooted into the host's root; GUEST_XCH is its exchange folder. */
  script: string;
  timeoutS: number;
  /** Files to put in the exchange folder before boot (name -> content). */
  files?: Record<string, string>;
  memoryMb?: number;
  cpus?: number;
  /** Called with the host path of the exchange folder as each boot starts (to follow its files live). */
  onBoot?(xch: string): void;
  /** Aborting stops the guest. */
  signal?: AbortSignal;
}

export interface GuestResult {
  kernel: UnpackedKernel;
  /** The job's exit status, or undefined when the guest did not get to the end. */
  exitCode: number | undefined;
  /** Host path of the exchange folder (the guest's GUEST_XCH). */
  xch: string;
  jobLog: string;
  console: string;
  seconds: number;
}

export async function prepareGuest(k: GuestKernel, log: (s: string) => void = () => {}): Promise<{ kernel: UnpackedKernel; initrd: string }> {
  const r = await execa('sh', ['-c', 'command -v qemu-system-x86_64'], { reject: false });
  if (r.exitCode !== 0) throw new VmSetupError('qemu-system-x86_64 is missing: apt-get install qemu-system-x86');
  const kernel = await guestKernelFiles(k, log);
  if (!existsSync(kernel.initrd)) await buildInitramfs(kernel, kernel.initrd);
  return { kernel, initrd: kernel.initrd };
}

/**
 * Boots the guest; a kernel that panics before the job starts is booted again (twice at most).
 * Multi-threaded TCG occasionally loses a race with the kernel's own boot-time code patching
 * (an int3 Oops in a static branch): a flake of the emulator, not of the job.
 */
export async function runInGuest(job: GuestJob, log: (s: string) => void = () => {}): Promise<GuestResult> {
  const { kernel, initrd } = await prepareGuest(job.kernel, log);
  const started = Date.now();
  let consoles = '';
  for (let attempt = 1; ; attempt++) {
    const r = await bootOnce(job, kernel, initrd);
    if (r.exitCode !== undefined || r.jobStarted || !/Kernel panic/.test(r.console) || attempt === 3 || job.signal?.aborted) {
      return { ...r, console: consoles + r.console, seconds: (Date.now() - started) / 1000 };
    }
    log(`lifetrace: the guest kernel panicked while booting (attempt ${attempt}); booting again`);
    consoles += r.console + `\nlifetrace: boot attempt ${attempt} panicked before the job started\n`;
  }
}

async function bootOnce(job: GuestJob, kernel: UnpackedKernel, initrd: string): Promise<Omit<GuestResult, 'seconds'> & { jobStarted: boolean }> {
  const xch = await mkdtemp(join(tmpdir(), 'lifetrace-xch-'));
  await writeFile(join(xch, 'job.sh'), job.script, { mode: 0o755 });
  for (const [name, content] of Object.entries(job.files ?? {})) await writeFile(join(xch, name), content);
  job.onBoot?.(xch);
  const qemu = await execa('qemu-system-x86_64', [
    '-accel', 'tcg,thread=multi', '-cpu', 'max', '-m', `${job.memoryMb ?? 2048}M`, '-smp', String(job.cpus ?? 2),
    '-kernel', kernel.vmlinuz, '-initrd', initrd,
    '-append', 'console=ttyS0 quiet panic=-1 lsm=',
    '-nographic', '-no-reboot', '-nic', 'none', '-monitor', 'none', '-serial', 'stdio',
    '-virtfs', 'local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap',
    '-virtfs', `local,path=${xch},mount_tag=xch,security_model=none`,
  ], { reject: false, stdin: 'ignore', timeout: job.timeoutS * 1000, all: true, maxBuffer: 64 << 20, ...(job.signal ? { cancelSignal: job.signal } : {}) });
  const read = (f: string): Promise<string> => readFile(join(xch, f), 'utf8').catch(() => '');
  const exit = (await read('job.exit')).trim();
  return {
    kernel,
    exitCode: exit === '' ? undefined : Number(exit),
    xch,
    jobLog: await read('job.log'),
    jobStarted: existsSync(join(xch, 'job.log')),
    console: (qemu.all ?? '') + (qemu.timedOut ? `\nlifetrace: guest killed after ${job.timeoutS} s\n` : ''),
  };
}

export { GUEST_XCH };
