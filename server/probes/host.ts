/** Facts about the machine that runs bpftrace, and the mounts bpftrace 0.17 needs. */
import { access } from 'node:fs/promises';
import { execa } from 'execa';

const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );

export async function bpftraceVersion(): Promise<string | undefined> {
  const r = await execa('bpftrace', ['--version'], { reject: false });
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}

/**
 * bpftrace 0.17 resolves tracepoints under /sys/kernel/tracing and kprobe events under
 * /sys/kernel/debug/tracing. Mounts what is missing (needs root); returns what it could not.
 */
export async function ensureTracingMounts(): Promise<string[]> {
  const problems: string[] = [];
  const mounts = [
    { dir: '/sys/kernel/tracing', probe: '/sys/kernel/tracing/events', type: 'tracefs' },
    { dir: '/sys/kernel/debug', probe: '/sys/kernel/debug/tracing', type: 'debugfs' },
  ];
  for (const m of mounts) {
    if (await exists(m.probe)) continue;
    const r = await execa('mount', ['-t', m.type, 'nodev', m.dir], { reject: false });
    if (r.exitCode !== 0 && !(await exists(m.probe)))
      problems.push(`cannot mount ${m.type} on ${m.dir}: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
  }
  return problems;
}
