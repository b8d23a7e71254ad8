/**
 * What a workload finds under `capture` and inside `--vm` (docs/real-kernel.md): the command's
 * status, --duration, Ctrl-C, and the guest's sandbox (loopback, modules, user namespaces, a
 * writable cwd, the kernel's config). Guest boots cost a minute or more under TCG: one boot checks
 * the whole sandbox (per kernel), one capture checks the status and the duration, one the Ctrl-C.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { analyzeFile } from '../server/analyze/pipeline.js';
import { GUEST_DIED } from '../server/cli/capture.js';
import { buildReport } from '../server/report/build.js';
import { PROJECT_ROOT } from '../server/support/paths.js';
import { captureBudgetS } from '../server/vm/command.js';
import { runInGuest } from '../server/vm/guest.js';

const bin = join(PROJECT_ROOT, 'server', 'bin', 'lifetrace.js');
const scratch = (): string => mkdtempSync(join(tmpdir(), 'lifetrace-sandbox-'));
const captureLines = (f: string): string[] => {
  const buf = readFileSync(f);
  return (f.endsWith('.gz') ? gunzipSync(buf) : buf).toString('utf8').split('\n').filter(Boolean);
};

describe('capture on this machine: the command decides the status', () => {
  it('a failing command: its capture is kept, capture exits with its status, --duration holds nothing', async () => {
    const out = join(scratch(), 'fail.ljsonl');
    const started = Date.now();
    const r = await execa('node', [bin, 'capture', '--duration', '120', '--out', out, '--', 'sh', '-c', 'exit 3'], {
      reject: false,
      all: true,
    });
    expect(r.exitCode, r.all).toBe(3);
    expect(r.stdout.trim()).toBe(out);
    expect(captureLines(out).length).toBeGreaterThan(1);
    // The --duration timer once held the process until 120 s had passed.
    expect((Date.now() - started) / 1000).toBeLessThan(60);
  }, 90_000);
});

describe('the guest time budget', () => {
  it('a run with a command lasts as long as the command; only --duration (or a stress preset alone) bounds it', () => {
    expect(captureBudgetS({ command: ['make', 'check'] })).toBeUndefined();
    expect(captureBudgetS({ command: ['x'], stress: 'epoll' })).toBeUndefined();
    expect(captureBudgetS({})).toBeUndefined(); // until Ctrl-C, as locally
    expect(captureBudgetS({ durationS: 10 })).toBe(270);
    expect(captureBudgetS({ stress: 'epoll' })).toBe(270);
  });
});

/** Each check prints `check NAME: RESULT`; the tests read them back. */
const CHECKS = String.raw`
echo "check net-devices: $(ls /sys/class/net | tr '\n' ' ')"
python3 - <<'PY'
import socket, threading
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)
def serve():
    c, _ = s.accept(); c.sendall(c.recv(16)); c.close()
threading.Thread(target=serve).start()
try:
    c = socket.create_connection(s.getsockname(), timeout=10); c.sendall(b'ping')
    print('check loopback:', c.recv(16).decode())
except OSError as e:
    print('check loopback:', e)
PY
echo "check userns: $(unshare --user --map-root-user id -u 2>&1)"
echo "check modules-tree: $(ls /lib/modules)"
echo "check release: $(uname -r)"
echo "check modprobe: $(modprobe loop 2>&1 && modprobe n_hdlc 2>&1 && modprobe overlay 2>&1 && echo ok)"
echo "check loaded: $(grep -oE '^(loop|n_hdlc) ' /proc/modules | sort | tr -d ' ' | tr '\n' ' ')"
echo "check config: $(if [ -e /proc/config.gz ]; then zcat /proc/config.gz; else cat /boot/config-$(uname -r); fi | grep -c '^CONFIG_KPROBES=y')"
cd ${PROJECT_ROOT}
echo "check cwd-writable: $(echo x > lifetrace-guest-wrote-this && cat lifetrace-guest-wrote-this)"
`;

for (const kernel of ['6.1', '6.12'] as const) {
  describe(`the guest sandbox: Debian ${kernel} in QEMU`, () => {
    const seen = new Map<string, string>();

    beforeAll(async () => {
      const ran = await runInGuest({ kernel, script: CHECKS, timeoutS: 600 });
      if (!ran.ok) throw new Error(ran.error);
      const r = ran.value;
      expect(r.exitCode, r.jobLog + r.console.slice(-2000)).toBe(0);
      for (const m of r.jobLog.matchAll(/^check ([\w-]+): (.*)$/gm)) seen.set(m[1]!, m[2]!.trim());
    }, 620_000);

    it('a server on 127.0.0.1 answers (the loopback is up), and there is no network device but lo', () => {
      expect(seen.get('loopback')).toBe('ping');
      expect(seen.get('net-devices')).toBe('lo');
    });

    it('user namespaces can be made (the job is not chrooted)', () => {
      expect(seen.get('userns')).toBe('0');
    });

    it("modprobe loads the guest kernel's modules (loop, a tty line discipline, overlay)", () => {
      expect(seen.get('modules-tree')).toBe(seen.get('release'));
      expect(seen.get('modprobe')).toBe('ok');
      expect(seen.get('loaded')).toBe('loop n_hdlc');
    });

    it("the kernel's config is where tests look for it", () => {
      expect(seen.get('config')).toBe('1');
    });

    it("the cwd is writable, and the host's files are not written", () => {
      expect(seen.get('cwd-writable')).toBe('x');
      expect(existsSync(join(PROJECT_ROOT, 'lifetrace-guest-wrote-this'))).toBe(false);
    });
  });
}

describe('capture --vm: Debian 6.1 in QEMU', () => {
  it('a failing command: its capture comes back, capture exits with its status, --duration holds nothing', async () => {
    const out = join(scratch(), 'fail.ljsonl.gz');
    const started = Date.now();
    const r = await execa(
      'node',
      [bin, 'capture', '--vm', '--duration', '500', '--out', out, '--', 'sh', '-c', 'echo lt-failing; exit 3'],
      { reject: false, all: true },
    );
    const seconds = (Date.now() - started) / 1000;
    expect(r.exitCode, r.all.slice(-3000)).toBe(3);
    expect(r.all).toContain('lt-failing');
    expect(r.stdout.trim()).toBe(out);
    const lines = captureLines(out);
    expect(JSON.parse(lines[0]!).kernel).toMatch(/^6\.1\./);
    expect(lines.some((l) => l.includes('ready\\t'))).toBe(true);
    // The --duration timer once held the guest until 500 s had passed after the command.
    expect(seconds).toBeLessThan(500);
  }, 900_000);

  it('the kernel dies mid-capture (sysrq crash): the capture up to then comes back, analyzable, and capture says why', async () => {
    const out = join(scratch(), 'crashed.ljsonl.gz');
    const script = 'python3 test/kernel/workloads.py stalefd; sleep 3; echo lt-crashing; echo c > /proc/sysrq-trigger; sleep 100000';
    const r = await execa('node', [bin, 'capture', '--vm', '--out', out, '--', 'sh', '-c', script], {
      reject: false,
      all: true,
      cwd: PROJECT_ROOT,
    });
    expect(r.exitCode, r.all.slice(-3000)).toBe(GUEST_DIED);
    expect(r.all).toContain('lt-crashing');
    expect(r.all).toMatch(/kernel died during the capture \(sysrq: Trigger a crash.*Kernel panic - not syncing/);
    expect(r.stdout.trim()).toBe(out);
    // Cut where the kernel died (no gzip trailer), readable up to its last flush: the workload's flag is there.
    const report = buildReport(await analyzeFile(out));
    expect(report.summary.input_error).toMatch(/reading stopped after line \d+/);
    expect(report.summary.events).toBeGreaterThan(0);
    expect(report.flags.some((f) => f.rule === 'epoll.stale-fd' && f.evidence.some((e) => e.comm === 'lt-stalefd'))).toBe(true);
  }, 900_000);

  it('Ctrl-C stops a run that has no --duration cleanly, and what was captured comes back', async () => {
    const out = join(scratch(), 'stopped.ljsonl.gz');
    const run = execa('node', [bin, 'capture', '--vm', '--out', out, '--', 'sh', '-c', 'echo lt-command-running; exec sleep 100000'], {
      reject: false,
      all: true,
    });
    let log = '';
    await new Promise<void>((res) => {
      run.all!.on('data', (d: Buffer) => {
        log += d.toString();
        // The line the command prints, not the command line that the host's log echoes.
        if (/^lt-command-running$/m.test(log)) res();
      });
    });
    run.kill('SIGINT');
    const r = await run;
    expect(r.exitCode, r.all.slice(-3000)).toBe(130);
    expect(r.all).toContain('stopped by Ctrl-C');
    const lines = captureLines(out);
    expect(lines.some((l) => l.includes('ready\\t'))).toBe(true);
    expect(lines.some((l) => l.includes('"type": "map"'))).toBe(true); // bpftrace ended normally
  }, 900_000);
});
