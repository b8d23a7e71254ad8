/** `lifetrace capture`: record a capture here, or in a QEMU guest with --vm. */
import { copyFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { recordCapture, type Progress } from '../record/record.js';
import { isStressPreset, STRESS_PRESETS, type StressPreset } from '../record/stress.js';
import { GUEST_XCH } from '../vm/guest.js';
import { kernelLabel } from '../vm/kernels.js';
import { parse, positiveNumber, UsageError } from './args.js';
import { runGuestCommand } from './guest.js';
import { parseFamilies, parseKernel } from './probes.js';

export const CAPTURE_USAGE = `usage: lifetrace capture --out FILE [--duration S] [--families a,b] [--stress PRESET] [--vm [--kernel 6.1|6.12|PATH [--modules DIR]]] [-- CMD ARGS...]

Resolves the probes for this kernel, starts them, waits until they are attached, runs CMD (and/or a
stress preset) and stops when it exits, after --duration seconds, or on Ctrl-C. Writes a capture
(gzip when FILE ends in .gz) and prints where it is.

  --stress PRESET   stress-ng workload: ${Object.entries(STRESS_PRESETS).map(([k, v]) => `${k} (${v.about})`).join('; ')}
  --vm              capture inside a disposable QEMU guest running a stock Debian kernel (default 6.1);
                    it sees this machine's files read-only, writes scratch files to its own /var/tmp
                    (its TMPDIR), and has no network
  --kernel PATH     boot that kernel image (a bzImage: your own build, or a bug kernel from 'lifetrace
                    kernel build') instead; --modules DIR is its lib/modules/RELEASE when it has modules`;

export async function captureCommand(argv: string[], print: (s: string) => void): Promise<number> {
  const dash = argv.indexOf('--');
  const command = dash >= 0 ? argv.slice(dash + 1) : undefined;
  const { values, positionals } = parse(dash >= 0 ? argv.slice(0, dash) : argv, {
    out: { type: 'string', short: 'o' }, duration: { type: 'string' }, families: { type: 'string' }, stress: { type: 'string' },
    vm: { type: 'boolean' }, kernel: { type: 'string' }, modules: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  }, CAPTURE_USAGE);
  if (values.help) {
    print(CAPTURE_USAGE + '\n');
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected ${JSON.stringify(positionals[0])}: put the command after --\n\n${CAPTURE_USAGE}`);
  if (!values.out) throw new UsageError(`--out FILE is required\n\n${CAPTURE_USAGE}`);
  if (command !== undefined && command.length === 0) throw new UsageError('nothing after --: give the command to run');
  const stress = values.stress;
  if (stress !== undefined && !isStressPreset(stress)) throw new UsageError(`unknown stress preset ${JSON.stringify(stress)}; presets: ${Object.keys(STRESS_PRESETS).join(', ')}`);
  const families = parseFamilies(values.families);
  const durationS = values.duration === undefined ? undefined : positiveNumber('duration', values.duration, 0);
  const out = resolve(values.out);

  if (values.vm) {
    const kernel = parseKernel(values.kernel, values.modules);
    const guestOut = `${GUEST_XCH}/${basename(out).endsWith('.gz') ? 'capture.ljsonl.gz' : 'capture.ljsonl'}`;
    const guestArgv = ['capture', '--out', guestOut, ...(families ? ['--families', families.join(',')] : [])];
    if (durationS !== undefined) guestArgv.push('--duration', String(durationS));
    if (stress) guestArgv.push('--stress', stress);
    if (command) guestArgv.push('--', ...command);
    const budget = 240 + (durationS ?? 60) * 3;
    const r = await runGuestCommand(kernel, guestArgv, { timeoutS: budget, log: (s) => process.stderr.write(s + '\n'), cwd: process.cwd() });
    // The guest prints where it wrote the capture inside the guest; the path that counts comes below.
    process.stderr.write(r.jobLog.split('\n').filter((l) => l !== guestOut).join('\n'));
    if (r.exitCode !== 0) throw new UsageError(`the capture in the ${kernelLabel(kernel)} guest failed (exit ${String(r.exitCode)})`);
    await copyFile(join(r.xch, basename(guestOut)), out);
    print(`${out}\n`);
    return 0;
  } else if (values.kernel || values.modules) throw new UsageError('--kernel and --modules go with --vm');

  const abort = new AbortController();
  const onSigint = (): void => abort.abort();
  process.once('SIGINT', onSigint);
  const tty = process.stderr.isTTY;
  const show = (p: Progress): void => {
    if (tty) process.stderr.write(`\r  events ${p.events}  lost ${p.lost}  ${p.seconds.toFixed(1)} s `);
  };
  try {
    const r = await recordCapture({
      out, families, durationS, command, stress: stress as StressPreset | undefined, signal: abort.signal,
      onProgress: show, log: (s) => process.stderr.write(s + '\n'),
    });
    if (tty) process.stderr.write('\n');
    process.stderr.write(`lifetrace: ${r.events} events, ${r.lost} lost in ${r.seconds.toFixed(1)} s of tracing on ${r.kernel}${r.commandExit !== undefined ? `; command exited ${r.commandExit}` : ''}\n`);
    for (const e of r.bpftraceErrors) process.stderr.write(`bpftrace: ${e}\n`);
    print(`${r.out}\n`);
    return r.commandExit !== undefined && r.commandExit !== 0 ? 1 : 0;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
