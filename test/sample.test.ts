/** The bundled sample that `npm start` analyzes: pin what it yields, through the real command. */
import { join } from 'node:path';
import { execa } from 'execa';
import { expect, it } from 'vitest';
import type { AnalysisReport } from '../server/report/build.js';

const root = join(import.meta.dirname, '..');

it('the bundled sample yields one flag per seed-thread scenario', async () => {
  const r = await execa('node', [join(root, 'server', 'bin', 'lifetrace.js'), 'start', '--json'], { cwd: root });
  const report = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as AnalysisReport;
  const byRule = Object.fromEntries(report.flags.map((f) => [f.rule, `${f.severity}/${f.confidence}/x${f.count}`]));
  expect(byRule).toEqual({
    'epoll.cross-process-del': 'info/certain/x1',
    'epoll.stale-fd': 'warning/certain/x2',
    'epoll.reaped-by-final-fput': 'info/certain/x1',
    'epoll.poll-on-dying-file': 'error/certain/x1',
    'dcache.readdir-vs-delete': 'warning/certain/x2',
    'fsnotify.mark-teardown-during-wait': 'warning/certain/x2',
    'fsnotify.long-permission-wait': 'warning/certain/x1',
    'dentry.use-after-removal': 'error/uncertain/x1',
  });
  expect(report.lost_events).toBe(12);
  expect(report.summary.anomaly_counts).toEqual({});
});
