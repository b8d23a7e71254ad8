/**
 * Runs a shell job inside a disposable QEMU guest booted on a stock Debian kernel (TCG: the host
 * kernel cannot attach kprobes and KVM guests hang here). The guest sees the host's root read-only
 * and an exchange folder read-write; it has no network device.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, open, readFile, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { textLines } from '../capture/lines.js';
import { Tail } from '../capture/tail.js';
import { GUEST_XCH, initramfsFor } from './initramfs.js';
import { err, ok, type Result } from '../support/result.js';
import { guestKernelFiles, type GuestKernel, type UnpackedKernel } from './kernels.js';

export interface GuestJob {
  kernel: GuestKernel;
  /** sh script run chrooted into the host's root; GUEST_XCH is its exchange folder. */
  script: string;
  /** Undefined: the job runs as long as it runs. */
  timeoutS?: number;
  /** Files to put in the exchange folder before boot (name -> content). */
  files?: Record<string, string>;
  memoryMb?: number;
  cpus?: number;
  /** Called with the host path of the exchange folder as each boot starts (to follow its files live). */
  onBoot?(xch: string): void;
  /** Called with each line of the job's output (stdout and stderr) as it comes. */
  onLog?(line: string): void;
  /**
   * Aborting asks the job to stop: the file STOP_FILE appears in its exchange folder (guest-run
   * passes it on as SIGINT, and a capture ends as on Ctrl-C, keeping what it recorded). A guest
   * still running STOP_GRACE_S later is killed.
   */
  signal?: AbortSignal;
  /** Aborting kills the guest at once. */
  kill?: AbortSignal;
}

/** The file in the exchange folder that asks the job to stop. */
export const STOP_FILE = 'stop';
/**
 * The guest's console (QEMU's serial port), written to the exchange folder as it comes: kept on
 * disk whatever becomes of the caller (a test's time budget may run out first), to diagnose a hang.
 */
export const CONSOLE_FILE = 'console.log';
/** How long a guest asked to stop may take: bpftrace may still be attaching (a minute under TCG). */
const STOP_GRACE_S = 180;

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

/** The kernel and initramfs a guest boots; an error when the guest cannot be set up (no qemu, no such kernel). */
export async function prepareGuest(
  k: GuestKernel,
  log: (s: string) => void = () => {},
): Promise<Result<{ kernel: UnpackedKernel; initrd: string }>> {
  const r = await execa('sh', ['-c', 'command -v qemu-system-x86_64'], { reject: false });
  if (r.exitCode !== 0) return err('qemu-system-x86_64 is missing: apt-get install qemu-system-x86');
  const kernel = await guestKernelFiles(k, log);
  if (!kernel.ok) return kernel;
  const initrd = await initramfsFor(kernel.value);
  return initrd.ok ? ok({ kernel: kernel.value, initrd: initrd.value }) : initrd;
}

/**
 * Boots the guest; a kernel that panics before the job starts is booted again (twice at most).
 * Multi-threaded TCG occasionally loses a race with the kernel's own boot-time code patching
 * (an int3 Oops in a static branch): a flake of the emulator, not of the job.
 */
export async function runInGuest(job: GuestJob, log: (s: string) => void = () => {}): Promise<Result<GuestResult>> {
  const prepared = await prepareGuest(job.kernel, log);
  if (!prepared.ok) return prepared;
  const { kernel, initrd } = prepared.value;
  const started = Date.now();
  let consoles = '';
  for (let attempt = 1; ; attempt++) {
    const r = await bootOnce(job, kernel, initrd);
    if (
      r.exitCode !== undefined ||
      r.jobStarted ||
      !/Kernel panic/.test(r.console) ||
      attempt === 3 ||
      job.signal?.aborted ||
      job.kill?.aborted
    ) {
      return ok({ ...r, console: consoles + r.console, seconds: (Date.now() - started) / 1000 });
    }
    log(`lifetrace: the guest kernel panicked while booting (attempt ${attempt}); booting again`);
    consoles += `${r.console}\nlifetrace: boot attempt ${attempt} panicked before the job started\n`;
  }
}

async function bootOnce(
  job: GuestJob,
  kernel: UnpackedKernel,
  initrd: string,
): Promise<Omit<GuestResult, 'seconds'> & { jobStarted: boolean }> {
  const xch = await mkdtemp(join(tmpdir(), 'lifetrace-xch-'));
  await writeFile(join(xch, 'job.sh'), job.script, { mode: 0o755 });
  for (const [name, content] of Object.entries(job.files ?? {})) await writeFile(join(xch, name), content);
  job.onBoot?.(xch);
  const kill = new AbortController();
  const onKill = (): void => kill.abort();
  job.kill?.addEventListener('abort', onKill);
  let grace: NodeJS.Timeout | undefined;
  const onStop = (): void => {
    void writeFile(join(xch, STOP_FILE), '').catch(() => {});
    grace = setTimeout(onKill, STOP_GRACE_S * 1000);
  };
  if (job.signal?.aborted) onStop();
  else job.signal?.addEventListener('abort', onStop, { once: true });
  const child = execa(
    'qemu-system-x86_64',
    [
      '-accel',
      'tcg,thread=multi',
      '-cpu',
      'max',
      '-m',
      `${job.memoryMb ?? 2048}M`,
      '-smp',
      String(job.cpus ?? 2),
      '-kernel',
      kernel.vmlinuz,
      '-initrd',
      initrd,
      '-append',
      'console=ttyS0 quiet panic=-1 lsm=',
      '-nographic',
      '-no-reboot',
      '-nic',
      'none',
      '-monitor',
      'none',
      '-serial',
      'stdio',
      '-virtfs',
      'local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap',
      '-virtfs',
      `local,path=${xch},mount_tag=xch,security_model=none`,
    ],
    {
      reject: false,
      stdin: 'ignore',
      stdout: ['pipe', { file: join(xch, CONSOLE_FILE) }],
      all: true,
      maxBuffer: 64 << 20,
      cancelSignal: kill.signal,
      ...(job.timeoutS !== undefined ? { timeout: job.timeoutS * 1000 } : {}),
      // A caller that stops the job on Ctrl-C puts QEMU in its own process group, so the terminal's
      // Ctrl-C reaches only lifetrace, and not QEMU, which would die with the capture inside.
      detached: job.signal !== undefined,
    },
  );
  const reap = (): void => void child.kill('SIGKILL');
  process.on('exit', reap);
  const follow = job.onLog ? followLog(join(xch, 'job.log'), job.onLog) : undefined;
  const qemu = await child;
  await follow?.stop();
  process.off('exit', reap);
  clearTimeout(grace);
  job.signal?.removeEventListener('abort', onStop);
  job.kill?.removeEventListener('abort', onKill);
  const read = (f: string): Promise<string> => readFile(join(xch, f), 'utf8').catch(() => '');
  const exit = (await read('job.exit')).trim();
  return {
    kernel,
    exitCode: exit === '' ? undefined : Number(exit),
    xch,
    jobLog: await read('job.log'),
    jobStarted: existsSync(join(xch, 'job.log')),
    console:
      (qemu.all ?? '') +
      (qemu.timedOut ? `\nlifetrace: guest killed after ${String(job.timeoutS)} s\n` : '') +
      (qemu.isCanceled ? '\nlifetrace: guest killed\n' : ''),
  };
}

/**
 * What to say of a guest whose job did not finish (it hung until its time budget, or its kernel
 * died): the end of its job's log and the last lines of its console.
 */
export function guestUnfinished(r: GuestResult): string {
  return `the guest did not finish (${r.seconds.toFixed(0)} s):\n${r.jobLog.slice(-2000)}${r.console.slice(-1500)}`;
}

/**
 * What killed a guest kernel, from its console: the first oops or BUG line and the panic line
 * ("BUG: unable to handle page fault ...; Kernel panic - not syncing: Fatal exception"), or
 * undefined when it did not panic.
 */
export function guestPanic(console: string): string | undefined {
  const panic = /Kernel panic - not syncing:[^\r\n]*/.exec(console)?.[0];
  if (panic === undefined) return undefined;
  const cause = /(?:BUG:|Oops:|sysrq: Trigger a crash|general protection fault)[^\r\n]*/.exec(console)?.[0];
  return cause !== undefined && !panic.includes(cause) ? `${cause.trim()}; ${panic.trim()}` : panic.trim();
}

/** Follows the job's log as the guest writes it into the share. */
function followLog(file: string, onLine: (line: string) => void): { stop(): Promise<void> } {
  let tail: Tail | undefined;
  let fh: FileHandle | undefined;
  let reading = Promise.resolve();
  const poll = async (): Promise<void> => {
    if (!tail) {
      if (!existsSync(file)) return;
      fh = await open(file, 'r');
      tail = new Tail(fh, textLines(onLine));
    }
    await tail.drain();
  };
  const timer = setInterval(() => {
    reading = reading.then(poll).catch(() => {});
  }, 250);
  return {
    async stop() {
      clearInterval(timer);
      await reading;
      await poll().catch(() => {});
      tail?.flush();
      await fh?.close();
    },
  };
}

export { GUEST_XCH };
