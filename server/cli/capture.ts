/** `lifetrace capture`: record a capture here, or in a QEMU guest with --vm. */
import { copyFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { recordCapture, type Progress } from '../recorder/record-capture.js';
import { isStressPreset, STRESS_PRESETS, type StressPreset } from '../recorder/stress.js';
import { GUEST_XCH, guestPanic, guestUnfinished } from '../vm/guest.js';
import { kernelLabel } from '../vm/kernels.js';
import { err, ok } from '../support/result.js';
import { CANNOT_TRACE_STATUS, cannotTrace, parse, positiveNumber, type CommandResult, type Print } from './args.js';
import { captureBudgetS, runLifetraceInGuest } from '../vm/command.js';
import { parseFamilies, parseKernel } from './trace-args.js';

export const CAPTURE_USAGE = `usage: lifetrace capture --out FILE [--duration S] [--families a,b] [--stress PRESET] [--vm [--kernel 6.1|6.12|PATH [--modules DIR]]] [-- CMD ARGS...]

Resolves the probes for this kernel, starts them, waits until they are attached, runs CMD (and/or a
stress preset) and stops when it exits, after --duration seconds, or on Ctrl-C. Writes a capture
(gzip when FILE ends in .gz) and prints where it is.

  --stress PRESET   stress-ng workload: ${Object.entries(STRESS_PRESETS)
    .map(([k, v]) => `${k} (${v.about})`)
    .join('; ')}
  --vm              capture inside a disposable QEMU guest running a stock Debian kernel (default 6.1);
                    it sees this machine's files read-only, writes scratch files to its own /var/tmp
                    (its TMPDIR), and has no network
  --kernel PATH     boot that kernel image (a bzImage: your own build, or a bug kernel from 'lifetrace
                    kernel build') instead; --modules DIR is its lib/modules/RELEASE when it has modules

Exits with CMD's status (130 after Ctrl-C, 0 when --duration or the preset ended the run). With
--vm, 125 when the guest's kernel died mid-capture: what was captured up to then is still written.
77 when this machine (or the guest's kernel) cannot trace: not root, no tracefs, no probe of the
families can attach, or bpftrace failed before attaching; CMD did not run. 2 for a usage error.`;

/** `capture --vm`'s status when the guest's kernel died: the capture is partial, the command's status unknown. */
export const GUEST_DIED = 125;

export async function captureCommand(argv: string[], print: Print): Promise<CommandResult> {
  const dash = argv.indexOf('--');
  const command = dash >= 0 ? argv.slice(dash + 1) : undefined;
  const args = parse(
    dash >= 0 ? argv.slice(0, dash) : argv,
    {
      out: { type: 'string', short: 'o' },
      duration: { type: 'string' },
      families: { type: 'string' },
      stress: { type: 'string' },
      vm: { type: 'boolean' },
      kernel: { type: 'string' },
      modules: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    CAPTURE_USAGE,
  );
  if (!args.ok) return args;
  const { values, positionals } = args.value;
  if (values.help) {
    print(`${CAPTURE_USAGE}\n`);
    return ok(0);
  }
  if (positionals.length > 0) return err(`unexpected ${JSON.stringify(positionals[0])}: put the command after --\n\n${CAPTURE_USAGE}`);
  if (!values.out) return err(`--out FILE is required\n\n${CAPTURE_USAGE}`);
  if (command !== undefined && command.length === 0) return err('nothing after --: give the command to run');
  const stress = values.stress;
  if (stress !== undefined && !isStressPreset(stress))
    return err(`unknown stress preset ${JSON.stringify(stress)}; presets: ${Object.keys(STRESS_PRESETS).join(', ')}`);
  const chosen = parseFamilies(values.families);
  if (!chosen.ok) return chosen;
  const families = chosen.value;
  const duration = values.duration === undefined ? undefined : positiveNumber('duration', values.duration, 0);
  if (duration !== undefined && !duration.ok) return duration;
  const durationS = duration?.value;
  const out = resolve(values.out);

  if (values.vm) {
    const guestKernel = parseKernel(values.kernel, values.modules);
    if (!guestKernel.ok) return guestKernel;
    const kernel = guestKernel.value;
    const guestOut = `${GUEST_XCH}/${basename(out).endsWith('.gz') ? 'capture.ljsonl.gz' : 'capture.ljsonl'}`;
    const guestArgv = ['capture', '--out', guestOut, ...(families ? ['--families', families.join(',')] : [])];
    if (durationS !== undefined) guestArgv.push('--duration', String(durationS));
    if (stress) guestArgv.push('--stress', stress);
    if (command) guestArgv.push('--', ...command);
    const budget = captureBudgetS({ durationS, stress, command });
    const stop = interruptible("the guest's capture", true);
    try {
      const ran = await runLifetraceInGuest(kernel, guestArgv, {
        timeoutS: budget,
        log: (s) => process.stderr.write(`${s}\n`),
        cwd: process.cwd(),
        signal: stop.signal,
        kill: stop.kill,
        // The command's output as it comes, but where the guest wrote the capture inside the guest:
        // the path that counts is printed below.
        onLog: (l) => {
          if (l !== guestOut) process.stderr.write(`${l}\n`);
        },
      });
      if (!ran.ok) return ran;
      const r = ran.value;
      // The capture is written whatever the command's status: the failing run is the one that matters.
      if (r.exitCode !== undefined && r.stdout.split('\n').includes(guestOut)) {
        await copyFile(join(r.xch, basename(guestOut)), out);
        print(`${out}\n`);
        return ok(r.exitCode);
      }
      // A kernel that died mid-capture (the bug being chased, or an emulator flake) left the capture
      // unfinished in the share, written up to its last flush: that run is the one a user needs most.
      const panic = guestPanic(r.console);
      const partial = join(r.xch, basename(guestOut));
      if (r.exitCode === undefined && panic !== undefined && (await stat(partial).catch(() => undefined))?.size) {
        await copyFile(partial, out);
        process.stderr.write(
          `lifetrace: the ${kernelLabel(kernel)} guest's kernel died during the capture (${panic}); ` +
            'the capture is kept up to its last second, cut short where the kernel died\n',
        );
        print(`${out}\n`);
        return ok(GUEST_DIED);
      }
      if (r.exitCode === undefined) return err(guestUnfinished(r));
      const failed = `the capture in the ${kernelLabel(kernel)} guest failed (exit ${String(r.exitCode)})${panic ? `: ${panic}` : ''}`;
      // The guest's lifetrace said why on its output, shown above; its kernel cannot trace.
      return err(r.exitCode === CANNOT_TRACE_STATUS ? cannotTrace(failed) : failed);
    } finally {
      stop.dispose();
    }
  } else if (values.kernel || values.modules) return err('--kernel and --modules go with --vm');

  const stop = interruptible('the capture', false);
  const tty = process.stderr.isTTY;
  const show = (p: Progress): void => {
    if (tty) process.stderr.write(`\r  events ${p.events}  lost ${p.lost}  ${p.seconds.toFixed(1)} s `);
  };
  try {
    const recorded = await recordCapture({
      out,
      families,
      durationS,
      command,
      stress: stress as StressPreset | undefined,
      signal: stop.signal,
      onProgress: show,
      log: (s) => process.stderr.write(`${s}\n`),
    });
    if (tty) process.stderr.write('\n');
    // Whatever stops a recording before its probes attach is this machine's (or this kernel's).
    if (!recorded.ok) return err(cannotTrace(recorded.error));
    const r = recorded.value;
    process.stderr.write(
      `lifetrace: ${r.events} events, ${r.lost} lost in ${r.seconds.toFixed(1)} s of tracing on ${r.kernel}${r.commandExit !== undefined ? `; command exited ${r.commandExit}` : ''}${r.interrupted ? '; stopped by Ctrl-C' : ''}\n`,
    );
    for (const e of r.bpftraceErrors) process.stderr.write(`bpftrace: ${e}\n`);
    print(`${r.out}\n`);
    return ok(captureStatus(r));
  } finally {
    stop.dispose();
  }
}

/**
 * What `capture` exits with, the capture being written: the command's own status when it ended on
 * its own (so `capture -- make check` fails as `make check` does), 130 when Ctrl-C stopped it (as a
 * shell reports an interrupted command), else 0 (--duration or a stress preset ended the run).
 * Inside a guest this is the job's status, which the host's `capture --vm` exits with.
 */
export function captureStatus(r: { commandExit?: number | undefined; interrupted: boolean }): number {
  if (r.commandExit !== undefined) return r.commandExit;
  return r.interrupted ? 130 : 0;
}

/**
 * Ctrl-C (SIGINT) and SIGTERM: the first asks for a clean stop (what was captured is kept); a
 * second one aborts `kill` (a guest that does not answer), or, with nothing to kill, ends lifetrace
 * as a signal does.
 */
function interruptible(what: string, guest: boolean): { signal: AbortSignal; kill: AbortSignal; dispose(): void } {
  const stop = new AbortController();
  const kill = new AbortController();
  const on = (): void => {
    if (!stop.signal.aborted) {
      process.stderr.write(`\nlifetrace: stopping ${what} (again to ${guest ? 'kill the guest' : 'quit at once'})\n`);
      stop.abort();
    } else if (guest) kill.abort();
    else process.exit(130);
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return {
    signal: stop.signal,
    kill: kill.signal,
    dispose() {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    },
  };
}
