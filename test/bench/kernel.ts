/**
 * `npm run bench:kernel`: a stress-ng preset in a QEMU guest on a stock Debian kernel, with
 * lifetrace's probes and with a naive one-printf-per-call script on the same functions. Prints
 * {"bench":"kernel-loss","events":N,"lost":L,"naive_events":N2,"naive_lost":L2,"ops_ratio":R}
 * where R is the workload's bogo-ops with lifetrace's probes over bogo-ops with none.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../server/support/paths.js';
import { shQuote } from '../../server/vm/command.js';
import { GUEST_XCH, runInGuest } from '../../server/vm/guest.js';
import type { GuestKernel } from '../../server/vm/kernels.js';

const kernel = (process.env.LIFETRACE_BENCH_KERNEL ?? '6.1') as GuestKernel;
const preset = process.env.LIFETRACE_BENCH_PRESET ?? 'all';
const seconds = process.env.LIFETRACE_BENCH_SECONDS ?? '8';

const ran = await runInGuest(
  {
    kernel,
    timeoutS: 900,
    script: `cd ${shQuote(PROJECT_ROOT)} && exec node dist/test/bench/kernel-guest.js ${GUEST_XCH}/result.json ${shQuote(preset)} ${shQuote(seconds)}`,
  },
  (s) => process.stderr.write(`${s}\n`),
);
if (!ran.ok) {
  console.log(JSON.stringify({ bench: 'kernel-loss', error: ran.error }));
  process.exit(1);
}
const r = ran.value;
let res: Record<string, number | string>;
try {
  res = JSON.parse(await readFile(join(r.xch, 'result.json'), 'utf8')) as Record<string, number | string>;
} catch {
  process.stderr.write(r.jobLog.slice(-3000) + r.console.slice(-1000));
  console.log(JSON.stringify({ bench: 'kernel-loss', error: `the guest run failed (exit ${String(r.exitCode)})` }));
  process.exit(1);
}
const ratio = Number(res.ops) / Number(res.ops_none);
console.log(
  JSON.stringify({
    bench: 'kernel-loss',
    events: res.events,
    lost: res.lost,
    naive_events: res.naive_events,
    naive_lost: res.naive_lost,
    ops_ratio: Math.round(ratio * 1000) / 1000,
  }),
);
process.stderr.write(
  `(${String(res.kernel)}, stress-ng preset ${String(res.preset)} for ${String(res.seconds)} s: bogo-ops none ${String(res.ops_none)}, lifetrace ${String(res.ops)}, naive ${String(res.naive_ops)})\n`,
);
