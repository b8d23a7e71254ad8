/**
 * Kernel-level guards: each fix decided from a kernel's own facts (functions the fix added or
 * removed), never from its release string; and a rule's guard from the capture header's checks.
 */
import { describe, expect, it } from 'vitest';
import type { KernelFacts } from '../server/probes/facts.js';
import { checkFixes } from '../server/probes/fixes.js';
import { kernelGuardOf } from '../server/rules/guards.js';
import { findRule } from '../server/rules/index.js';

const facts = (fns: string[], release = '6.1.0-56-amd64'): KernelFacts => ({
  release,
  kprobes: true,
  ftrace: new Set(fns),
  symbols: new Set(fns),
  blacklist: new Set(),
  btf: undefined,
});

describe("fix checks from the kernel's facts", () => {
  it('stock-like kernels: the functions each fix added are there', () => {
    const c = checkFixes(
      facts([
        'fsnotify_prepare_user_wait',
        'fsnotify_add_mark_locked',
        'scan_positives',
        'eventfs_create_dir',
        'eventfs_d_release',
        'tracefs_d_revalidate',
      ]),
    );
    expect(c.abc77577a669!.state).toBe('yes');
    expect(c.d4f4de5e5ef8!.state).toBe('yes');
    expect(c['43aa6f97c2d0']!.state).toBe('yes');
    expect(c['43aa6f97c2d0']!.how).toContain('tracefs_d_revalidate');
  });

  it("a kernel without the fixes: the code before them is there, the fix's is not", () => {
    const c = checkFixes(facts(['fsnotify_add_mark_locked', 'next_positive', 'eventfs_create_dir']));
    expect(c.abc77577a669).toMatchObject({ state: 'no' });
    expect(c.d4f4de5e5ef8).toMatchObject({ state: 'no', how: expect.stringContaining('next_positive') });
    expect(c['43aa6f97c2d0']).toMatchObject({ state: 'no' });
  });

  it('what the facts cannot show stays unknown: inlined statics, no eventfs, no symbols at all', () => {
    const c = checkFixes(facts(['fsnotify_add_mark_locked']));
    expect(c.d4f4de5e5ef8!.state).toBe('unknown');
    expect(c['43aa6f97c2d0']).toMatchObject({ state: 'unknown', how: expect.stringContaining('no eventfs') });
    const blind = checkFixes({ ...facts([]), ftrace: undefined });
    for (const v of Object.values(blind)) expect(v.state).toBe('unknown');
  });

  it('never from a version number: the same facts under any release decide the same', () => {
    const fns = ['fsnotify_add_mark_locked', 'next_positive'];
    expect(checkFixes(facts(fns, '6.12.117+deb12-amd64'))).toEqual(checkFixes(facts(fns, '4.9.0-old')));
  });
});

describe("a rule's kernel-level guard", () => {
  const rule = findRule('dcache.readdir-vs-delete')!;
  it("is its fix's check in the capture header", () => {
    expect(kernelGuardOf(rule, { d4f4de5e5ef8: { state: 'yes', how: 'scan_positives() found' } })).toEqual({
      fix: rule.fix,
      state: 'yes',
      how: 'scan_positives() found',
    });
  });
  it('is unknown, saying why, without a check', () => {
    expect(kernelGuardOf(rule, undefined)).toMatchObject({ state: 'unknown', how: expect.stringContaining('records no check') });
    expect(kernelGuardOf(rule, {})).toMatchObject({ state: 'unknown', how: expect.stringContaining('per flag') });
  });
  it('a rule that needs no kernel fact says so', () => {
    expect(kernelGuardOf(findRule('lifetime.use-after-free')!, undefined)).toMatchObject({ state: 'no' });
  });
});

describe("the header's checks reach the flags by every path", () => {
  it("in-thread and through the decode worker's packed batches alike", async () => {
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { traceToCapture } = await import('./support/trace.js');
    const { analyzeTrace, analyzePacked } = await import('./support/run.js');
    const src = readFileSync(join(import.meta.dirname, 'fixtures', 'rules', 'dcache-readdir-vs-delete-guarded.trace'), 'utf8');
    const inThread = (await analyzeTrace(src)).flags.map((f) => [f.severity, f.guard]);
    const packed = analyzePacked(Buffer.from(traceToCapture(src)), 97).flags.map((f) => [f.severity, f.guard]);
    expect(inThread).toEqual([
      ['info', { fix: findRule('dcache.readdir-vs-delete')!.fix, state: 'yes', how: 'fixture: d4f4de5e5ef8 yes' }],
    ]);
    expect(packed).toEqual(inThread);
  });
});
