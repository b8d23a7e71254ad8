/** `lifetrace probes`: how each probe resolves on this kernel (or a guest's), and what the rules can do. */
import { ruleCoverage, type RuleCoverage } from '../analyze/coverage.js';
import { formatGuard, type FixChecks, type Guard } from '../model/fixes.js';
import { kernelGuardOf } from '../rules/guards.js';
import { RULES } from '../rules/index.js';
import type { Family } from '../model/events.js';
import { readKernelFacts } from '../probes/facts.js';
import { ensureTracingMounts } from '../probes/host.js';
import { defaultFamilies, resolveProgram, type ProbePoint } from '../probes/resolve.js';
import { err, ok } from '../support/result.js';
import { parse, type CommandResult, type Print } from './args.js';
import { runGuestCommand } from './guest.js';
import { parseFamilies, parseKernel } from './trace-args.js';

export const PROBES_USAGE = `usage: lifetrace probes [--json] [--families a,b] [--vm [--kernel 6.1|6.12|PATH [--modules DIR]]]

Lists every probe point the families want and how it resolves on the running kernel (or, with --vm,
on a stock Debian kernel in a QEMU guest, or on the kernel image at PATH): exact, compiler clone,
substitute, tracepoint or missing; then which rules are active, degraded or off as a result.`;

export interface ProbesReport {
  kernel: string;
  kprobes: boolean;
  profile: unknown;
  points: ProbePoint[];
  rules: RuleCoverage[];
  /** Which historical fixes this kernel carries, decided from its own facts (as a capture header records them). */
  fixes: FixChecks;
  /** Per rule that names a fix: the fix and whether this kernel carries it (kernel-level; a flag may decide its own). */
  guards: (Guard & { rule: string })[];
}

export async function probesReport(families: Family[] | undefined): Promise<ProbesReport> {
  await ensureTracingMounts();
  const facts = await readKernelFacts();
  const program = resolveProgram(families ?? defaultFamilies(facts), facts);
  return {
    kernel: facts.release,
    kprobes: facts.kprobes,
    profile: program.profile,
    points: program.points,
    rules: ruleCoverage(program.tags),
    fixes: program.fixes,
    guards: RULES.flatMap((r) => {
      const g = kernelGuardOf(r, program.fixes);
      return g ? [{ rule: r.id, ...g }] : [];
    }),
  };
}

export function renderProbes(r: ProbesReport): string {
  const out = [
    `kernel ${r.kernel}: kprobes ${r.kprobes ? 'available' : 'NOT available (locked down or CONFIG_KPROBES off)'}`,
    `profile ${JSON.stringify(r.profile)}`,
    '',
  ];
  for (const p of r.points) {
    const target = p.target ? ` -> ${p.target}` : '';
    out.push(`  ${p.family.padEnd(9)} ${p.attach.padEnd(42)} ${p.resolution.padEnd(10)}${target}${p.note ? `  (${p.note})` : ''}`);
  }
  out.push('', 'rules:');
  for (const c of r.rules) {
    out.push(`  ${c.id.padEnd(36)} ${c.status.padEnd(9)}${c.missing.length ? ` missing ${c.missing.join(', ')}` : ''}`);
    const g = r.guards?.find((x) => x.rule === c.id);
    out.push(`      ${g ? formatGuard(g) : 'no kernel fix applies (documented behaviour)'}`);
  }
  if (!r.kprobes) {
    out.push('', 'This kernel cannot attach kprobes: lifetrace falls back to syscall and sched tracepoints (family');
    out.push("'syscalls'). It sees fd numbers, not struct file: fd-level epoll lifetimes, epoll.cross-process-del and");
    out.push('epoll.stale-fd (without the events reported under a dead fd). It cannot see __fput, ->poll, dentries,');
    out.push('fsnotify marks or eventfs: those rules are off. For all of them, trace a real kernel with --vm (a stock');
    out.push('Debian kernel in a QEMU guest), or run lifetrace on a kernel with CONFIG_KPROBES and no lockdown.');
  }
  return `${out.join('\n')}\n`;
}

export async function probesCommand(argv: string[], print: Print): Promise<CommandResult> {
  const args = parse(
    argv,
    {
      json: { type: 'boolean' },
      families: { type: 'string' },
      vm: { type: 'boolean' },
      kernel: { type: 'string' },
      modules: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    PROBES_USAGE,
  );
  if (!args.ok) return args;
  const { values } = args.value;
  if (values.help) {
    print(`${PROBES_USAGE}\n`);
    return ok(0);
  }
  const chosen = parseFamilies(values.families);
  if (!chosen.ok) return chosen;
  const families = chosen.value;
  let report: ProbesReport;
  if (values.vm) {
    const kernel = parseKernel(values.kernel, values.modules);
    if (!kernel.ok) return kernel;
    const r = await runGuestCommand(kernel.value, ['probes', '--json', ...(families ? ['--families', families.join(',')] : [])], {
      timeoutS: 300,
      log: (s) => process.stderr.write(`${s}\n`),
    });
    if (!r.ok) return r;
    report = JSON.parse(r.value.stdout) as ProbesReport;
  } else {
    if (values.kernel || values.modules) return err('--kernel and --modules go with --vm');
    report = await probesReport(families);
  }
  print(values.json ? `${JSON.stringify(report)}\n` : renderProbes(report));
  return ok(0);
}
