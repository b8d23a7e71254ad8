/** The lifetrace command as a user runs it: a real process, real files, exit codes and output. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { RULES } from '../server/rules/index.js';
import type { AnalysisReport } from '../server/report/build.js';
import { traceToCapture } from './support/trace.js';
import { writeCapture } from './support/run.js';

const root = join(import.meta.dirname, '..');
const bin = join(root, 'server', 'bin', 'lifetrace.js');
const fixture = (name: string): string => writeCapture(traceToCapture(readFileSync(join(root, 'test', 'fixtures', 'rules', name), 'utf8')));
const lifetrace = (...args: string[]) => execa('node', [bin, ...args], { reject: false, cwd: root });

describe('lifetrace CLI', () => {
  it('--help lists the commands; no command is a usage error', async () => {
    const help = await lifetrace('--help');
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toMatch(/analyze CAPTURE/);
    expect((await lifetrace()).exitCode).toBe(2);
    const analyzeHelp = await lifetrace('analyze', '--help');
    expect(analyzeHelp.stdout).toMatch(/--fail-on LEVEL/);
  });

  it('analyze prints a text report with the flags, their evidence and the thread', async () => {
    const r = await lifetrace('analyze', fixture('epoll-poll-on-dying-file.trace'));
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/\[error\] epoll\.poll-on-dying-file: 1 flag\(s\)/);
    expect(r.stdout).toMatch(/thread 001: epoll calling ->poll\(\)/);
    expect(r.stdout).toMatch(/cpu0 app\[100\/100\] pipe_poll: pipe_poll\(file 0x[0-9a-f]+\) entered, count=0, inside ep_item_poll/);
  });

  it('analyze --json prints one object of the documented shape', async () => {
    const r = await lifetrace('analyze', '--json', fixture('epoll-cross-process-del-lost.trace'));
    expect(r.exitCode).toBe(0);
    const j = JSON.parse(r.stdout) as AnalysisReport;
    expect(Object.keys(j)).toEqual(['summary', 'lost_events', 'loss_windows', 'flags', 'anomalies']);
    expect(j.lost_events).toBe(42);
    const [f] = j.flags;
    expect(f).toMatchObject({ rule: 'epoll.cross-process-del', severity: 'info', confidence: 'uncertain' });
    expect(f!.time).toMatch(/^\d+$/);
    expect(f!.objects[0]).toMatch(/^epitem 0x[0-9a-f]+#0$/);
    expect(f!.evidence.map((e) => e.fn)).toEqual(['ep_ptable_queue_proc', 'do_epoll_ctl', 'ep_remove']);
    expect(f!.evidence[2]).toMatchObject({ pid: 200, comm: 'worker', cpu: 1 });
  });

  it('--fail-on: exit 1 only for a flag at or above the level', async () => {
    const errorCapture = fixture('epoll-poll-on-dying-file.trace');
    expect((await lifetrace('analyze', '--fail-on', 'error', errorCapture)).exitCode).toBe(1);
    const infoOnly = fixture('epoll-cross-process-del.trace');
    expect((await lifetrace('analyze', '--fail-on', 'warning', infoOnly)).exitCode).toBe(0);
    expect((await lifetrace('analyze', '--fail-on', 'info', infoOnly)).exitCode).toBe(1);
  });

  it('--rules limits the rules; an unknown rule is a usage error naming the known ones', async () => {
    const c = fixture('epoll-reaped-by-final-fput.trace');
    const only = JSON.parse((await lifetrace('analyze', '--json', '--rules', 'lifetime.use-after-free', c)).stdout) as AnalysisReport;
    expect(only.flags).toEqual([]);
    const bad = await lifetrace('analyze', '--rules', 'epoll.nope', c);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/unknown rule\(s\) epoll\.nope/);
    expect(bad.stderr).toContain('epoll.stale-fd');
  });

  it('--perm-wait-ms moves the long-wait threshold', async () => {
    const c = fixture('fsnotify-long-permission-wait.trace');
    const count = async (...a: string[]) =>
      (JSON.parse((await lifetrace('analyze', '--json', ...a, c)).stdout) as AnalysisReport).flags.filter(
        (f) => f.rule === 'fsnotify.long-permission-wait',
      ).length;
    expect(await count()).toBe(2);
    expect(await count('--perm-wait-ms', '30')).toBe(2); // the 50 ms wait now folds into the same mark's flag
    expect(await count('--perm-wait-ms', '450')).toBe(1); // only the one still waiting at the end (500 ms)
    expect(await count('--perm-wait-ms', '1000')).toBe(0);
  });

  it('usage and input errors exit 2 with a message that says what to do', async () => {
    const wrongFlag = await lifetrace('analyze', '--frobnicate', 'x');
    expect(wrongFlag.exitCode).toBe(2);
    expect(wrongFlag.stderr).toMatch(/Unknown option '--frobnicate'/);
    const missing = await lifetrace('analyze', '/nonexistent/capture.ljsonl');
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/cannot read capture/);
    const badLevel = await lifetrace('analyze', '--fail-on', 'fatal', 'x');
    expect(badLevel.stderr).toMatch(/--fail-on takes one of info, warning, error/);
    expect((await lifetrace('frobnicate')).exitCode).toBe(2);
  });

  it('garbage input is analyzed with anomalies, not a crash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lt-cli-'));
    const p = join(dir, 'garbage.bin');
    writeFileSync(p, Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 256)));
    const r = await lifetrace('analyze', '--json', p);
    expect(r.exitCode).toBe(0);
    const j = JSON.parse(r.stdout) as AnalysisReport;
    expect(j.summary.events).toBe(0);
    expect(Object.values(j.summary.anomaly_counts).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });

  it("analyze shows each flag's guard: the fix, yes | no | unknown, and how it was decided", async () => {
    const guarded = fixture('dcache-readdir-vs-delete-guarded.trace');
    const text = await lifetrace('analyze', guarded);
    expect(text.stdout).toMatch(/\[info\] dcache\.readdir-vs-delete/);
    expect(text.stdout).toContain(
      'guarded by d4f4de5e5ef8 (Fix the locking in dcache_readdir() and friends, v5.4): yes (fixture: d4f4de5e5ef8 yes)',
    );
    const [f] = (JSON.parse((await lifetrace('analyze', '--json', guarded)).stdout) as AnalysisReport).flags;
    expect(f!.guard).toEqual({
      fix: 'd4f4de5e5ef8 (Fix the locking in dcache_readdir() and friends, v5.4)',
      state: 'yes',
      how: 'fixture: d4f4de5e5ef8 yes',
    });
    // The same ordering with no kernel check in the header: not confirmed guarded, a warning.
    const [g] = (JSON.parse((await lifetrace('analyze', '--json', fixture('dcache-readdir-vs-delete.trace'))).stdout) as AnalysisReport)
      .flags;
    expect(g).toMatchObject({ severity: 'warning', guard: { state: 'unknown' } });
    // A flag's own decision wins over the kernel-level one: the observed fsnotify wait.
    const [w] = (
      JSON.parse((await lifetrace('analyze', '--json', fixture('fsnotify-mark-teardown-during-wait.trace'))).stdout) as AnalysisReport
    ).flags.filter((x) => x.rule === 'fsnotify.mark-teardown-during-wait');
    expect(w!.guard!.how).toMatch(/^observed: fsnotify_prepare_user_wait\(\) returned true/);
  });

  it('probes prints, per rule, "guarded by <fix>: yes | no | unknown (how decided)", decided from this kernel\'s facts', async () => {
    const json = await lifetrace('probes', '--json');
    expect(json.exitCode, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout) as {
      guards: { rule: string; fix: string; state: string; how: string }[];
      fixes: Record<string, { state: string; how: string }>;
    };
    // Every rule that names a fix; the others flag documented behaviour and say so.
    expect(report.guards.map((g) => g.rule)).toEqual(RULES.filter((r) => r.fix !== undefined).map((r) => r.id));
    expect(
      RULES.filter((r) => r.fix === undefined)
        .map((r) => r.id)
        .sort(),
    ).toEqual(['epoll.cross-process-del', 'epoll.reaped-by-final-fput', 'epoll.stale-fd']);
    for (const g of report.guards) {
      expect(['yes', 'no', 'unknown']).toContain(g.state);
      expect(g.how.length).toBeGreaterThan(0);
    }
    expect(Object.keys(report.fixes).sort()).toEqual(['43aa6f97c2d0', 'abc77577a669', 'd4f4de5e5ef8']);
    // Never from a version number: every decision names the kernel fact it rests on.
    for (const c of Object.values(report.fixes)) expect(c.how).not.toMatch(/\bv?\d+\.\d+\b.*(or later|and later|>=)/);
    const fsnotify = report.guards.find((g) => g.rule === 'fsnotify.mark-teardown-during-wait')!;
    expect(fsnotify.fix).toMatch(/^abc77577a669 /);
    expect(report.guards.find((g) => g.rule === 'lifetime.use-after-free')).toMatchObject({ state: 'no' });
    const text = await lifetrace('probes');
    for (const g of report.guards) expect(text.stdout).toContain(`guarded by ${g.fix}: ${g.state} (${g.how})`);
    expect(text.stdout.match(/no kernel fix applies \(documented behaviour\)/g)).toHaveLength(3);
  });

  it('rules lists every rule with its thread', async () => {
    const r = await lifetrace('rules', '--json');
    const rules = JSON.parse(r.stdout) as { id: string; thread: string }[];
    expect(rules.map((x) => x.id)).toEqual(RULES.map((x) => x.id));
  });
});
