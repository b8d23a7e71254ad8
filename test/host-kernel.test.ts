/**
 * This machine's own kernel, for real. Without kprobes (as on these machines: locked down,
 * CONFIG_KPROBES off) lifetrace falls back to syscall and sched tracepoints; the epoll rules that
 * fd-level records can support must still find their orderings.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { analyzeFile } from '../server/analyze/pipeline.js';
import { buildReport, type AnalysisReport } from '../server/report/build.js';
import type { ProbesReport } from '../server/cli/probes.js';

const root = join(import.meta.dirname, '..');
const bin = join(root, 'server', 'bin', 'lifetrace.js');

describe("this machine's kernel", () => {
  let probes: ProbesReport;
  let report: AnalysisReport;
  let log: string;

  beforeAll(async () => {
    probes = JSON.parse((await execa('node', [bin, 'probes', '--json'], { cwd: root })).stdout) as ProbesReport;
    const out = join(mkdtempSync(join(tmpdir(), 'lifetrace-host-')), 'host.ljsonl');
    const r = await execa('node', [bin, 'capture', '--out', out, '--', 'python3', 'test/kernel/workloads.py', 'xdel', 'stalefd', 'clean'], {
      cwd: root,
      all: true,
      reject: false,
    });
    log = r.all;
    expect(r.exitCode, log).toBe(0);
    report = buildReport(await analyzeFile(out));
  }, 120_000);

  it('lifetrace probes says what this kernel can and cannot see', () => {
    const status = Object.fromEntries(probes.rules.map((r) => [r.id, r.status]));
    if (probes.kprobes) {
      expect(status['epoll.cross-process-del']).toBe('active');
      return;
    }
    expect(probes.points.every((p) => p.family === 'syscalls' && p.resolution === 'tracepoint')).toBe(true);
    expect(status).toMatchObject({
      'epoll.cross-process-del': 'active',
      'epoll.stale-fd': 'degraded',
      'epoll.poll-on-dying-file': 'off',
      'dcache.readdir-vs-delete': 'off',
    });
  });

  it('records this kernel, in the fallback when it has no kprobes', () => {
    expect(report.summary.header!.kernel).toBe(probes.kernel);
    expect(Object.keys(report.summary.header!.families as object)).toEqual(
      probes.kprobes ? expect.arrayContaining(['epoll']) : ['syscalls'],
    );
    expect(report.summary.anomaly_counts).toEqual({});
    expect(report.lost_events).toBe(0);
  });

  it('epoll.cross-process-del: fork, EPOLL_CTL_DEL in the child', () => {
    const f = report.flags.find((x) => x.rule === 'epoll.cross-process-del' && x.evidence.some((e) => e.comm === 'lt-xdel-child'));
    expect(f, JSON.stringify(report.flags.map((x) => x.message))).toBeDefined();
    expect(f!.evidence[0]!.comm).toBe('lt-xdel');
  });

  it('epoll.stale-fd: the registered fd closed while a dup keeps the file open', () => {
    const f = report.flags.find((x) => x.rule === 'epoll.stale-fd' && x.evidence.some((e) => e.comm === 'lt-stalefd'));
    expect(f).toBeDefined();
    expect(f!.severity).toBe('warning');
  });

  it('nothing else: the clean workload and every other process on this machine raise no error', () => {
    expect(report.flags.filter((f) => f.severity === 'error').map((f) => f.message)).toEqual([]);
  });
});
