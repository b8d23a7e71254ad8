/**
 * The bundled sample that `npm start` replays when the machine cannot attach kprobes: a real capture, recorded by
 * `lifetrace capture --vm --out test/fixtures/sample.ljsonl.gz -- python3 test/kernel/workloads.py all`
 * on Debian's 6.1 kernel under QEMU. Pin what it yields, through the real command.
 */
import { join } from 'node:path';
import { execa } from 'execa';
import { expect, it } from 'vitest';
import type { AnalysisReport } from '../server/report/build.js';

const root = join(import.meta.dirname, '..');

it("the bundled real sample yields the workloads' orderings and nothing else", async () => {
  const r = await execa(
    'node',
    [join(root, 'server', 'bin', 'lifetrace.js'), 'analyze', '--json', join(root, 'test', 'fixtures', 'sample.ljsonl.gz')],
    { cwd: root },
  );
  const report = JSON.parse(r.stdout) as AnalysisReport;
  expect(report.summary.header).toMatchObject({ kernel: '6.1.0-56-amd64', host: 'lifetrace-guest', cpus: 2 });
  expect(report.lost_events).toBe(0);
  expect(report.summary.anomaly_counts).toEqual({});
  const byRule: Record<string, string[]> = {};
  for (const f of report.flags) {
    const who = [...new Set(f.evidence.map((e) => e.comm))].join('+');
    (byRule[f.rule] ??= []).push(`${f.severity}/${f.confidence}/x${f.count}/${who}`);
  }
  for (const v of Object.values(byRule)) v.sort();
  // Recorded with the kernel's fix checks in its header (`fixes`) and a kernel stack on every record.
  expect(report.summary.header).toHaveProperty('fixes');
  expect(report.flags.find((f) => f.rule === 'dcache.readdir-vs-delete')!.guard?.state).toBe('yes');
  expect(report.flags.every((f) => f.evidence.some((e) => (e.stack?.length ?? 0) > 0))).toBe(true);
  expect(byRule).toEqual({
    'epoll.stale-fd': [
      'warning/certain/x1/lt-dup2stale',
      'warning/certain/x1/lt-dup2stale',
      'warning/certain/x1/lt-execstale+sleep',
      'warning/certain/x1/lt-rangestale',
      'warning/certain/x2/lt-stalefd',
    ],
    'epoll.cross-process-del': ['info/certain/x1/lt-xdel+lt-xdel-child'],
    'epoll.reaped-by-final-fput': [
      'info/certain/x1/lt-dup2stale',
      'info/certain/x1/lt-execstale+sleep',
      'info/certain/x1/lt-rangestale',
      'info/certain/x1/lt-reaped',
      'info/certain/x1/lt-stalefd',
    ],
    'dcache.readdir-vs-delete': [expect.stringMatching(/^info\/certain\/x\d+\/lt-pty-lister\+lt-pty-closer$/)],
    'fsnotify.long-permission-wait': ['info/certain/x1/lt-fan-opener', 'info/certain/x1/lt-fan-waiter'],
    'fsnotify.mark-teardown-during-wait': ['info/certain/x2/lt-fanteardown+lt-fan-waiter'],
  });
});
