/**
 * Runs LTP tests the way LTP's own runner does (inside the QEMU guest, under `lifetrace capture`):
 * each binary from its directory with LTPROOT and a writable TMPDIR, one after another. Prints a
 * line per test, `ltp NAME: exit N (T s)`, then a summary. Exits 0 when every test could be run,
 * whatever the tests concluded: lifetrace is judged on what the kernel did, not on the verdicts.
 *
 * usage: node dist/test/support/ltp-run.js LTPROOT GROUP[,GROUP...] [NAME...]
 */
import { existsSync } from 'node:fs';
import { execa } from 'execa';
import { LTP_GROUPS, ltpTests, type LtpGroup } from './ltp.js';

const [, , root, groupArg = '', ...only] = process.argv;
const groups = groupArg.split(',').filter(Boolean) as LtpGroup[];
if (!root || groups.length === 0 || groups.some((g) => !LTP_GROUPS.includes(g))) {
  process.stderr.write(`usage: ltp-run.js LTPROOT GROUP[,GROUP...] [NAME...]; groups: ${LTP_GROUPS.join(', ')}\n`);
  process.exit(2);
}

/** LTP's exit status is a bit mask of the worst results (lib/tst_res_flags.h). */
const verdict = (code: number): string =>
  code === 0 ? 'pass' : code & 1 ? 'fail' : code & 2 ? 'broken' : code & 4 ? 'warn' : code & 32 ? 'conf' : `exit ${code}`;

// Tests that need a block device (fanotify's, most) take a loop device, as LTP's runners expect
// the loop driver to be there; a kernel with it built in has /dev/loop-control already.
if (!existsSync('/dev/loop-control')) {
  const r = await execa('modprobe', ['loop'], { reject: false, all: true });
  if (r.exitCode !== 0) process.stdout.write(`ltp: modprobe loop failed (tests that need a device will break): ${r.all}\n`);
}

const tests = (await ltpTests(root, groups)).filter((t) => only.length === 0 || only.includes(t.name));
const counts: Record<string, number> = {};
for (const t of tests) {
  const started = Date.now();
  const r = await execa(t.argv[0]!, t.argv.slice(1), {
    cwd: t.dir,
    reject: false,
    stdin: 'ignore',
    stdout: 'inherit',
    stderr: 'inherit',
    env: {
      LTPROOT: root,
      TMPDIR: process.env.TMPDIR ?? '/var/tmp',
      PATH: `${t.dir}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      // TCG runs the guest several times slower than hardware: LTP's own timeouts scale with this.
      LTP_TIMEOUT_MUL: process.env.LTP_TIMEOUT_MUL ?? '4',
      LTP_COLORIZE_OUTPUT: 'n',
      // The race tests run for a set time (inotify06 600 s, inotify09 and pty05-07 150 s): a tenth
      // of it still races thousands of times, and keeps the whole table within an hour.
      LTP_RUNTIME_MUL: process.env.LTP_RUNTIME_MUL ?? '0.1',
    },
    extendEnv: true,
    timeout: 900_000,
  });
  const code = r.exitCode ?? -1;
  const v = r.timedOut ? 'timeout' : verdict(code);
  counts[v] = (counts[v] ?? 0) + 1;
  process.stdout.write(`ltp ${t.name}: exit ${code} ${v} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
}
process.stdout.write(
  `ltp: ${tests.length} tests: ${Object.entries(counts)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ')}\n`,
);
