/**
 * The guest side of `npm run bench:kernel` (runs inside the QEMU guest, as root): the same
 * stress-ng preset three times, with no probes, with lifetrace's probes, and with a naive script
 * that prints once per call of the same functions. Writes one JSON object to argv[2].
 */
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { recordCapture } from '../../server/recorder/record-capture.js';
import { isPrintf, lostEvents, startBpftrace } from '../../server/recorder/bpftrace.js';
import { readKernelFacts } from '../../server/probes/facts.js';
import { ensureTracingMounts } from '../../server/probes/host.js';
import { defaultFamilies, resolveProgram } from '../../server/probes/resolve.js';
import { stressArgs, type StressPreset } from '../../server/recorder/stress.js';

const [, , out, presetArg = 'all', secondsArg = '8'] = process.argv;
const preset = presetArg as StressPreset;
const seconds = Number(secondsArg);
/** The guest's /tmp is the host's, read-only; its TMPDIR is a tmpfs. */
const scratch = (name: string): string => join(tmpdir(), name);

/** Sum of bogo-ops over the stressors of a stress-ng --yaml report. */
async function bogoOps(yaml: string): Promise<number> {
  const text = await readFile(yaml, 'utf8');
  return [...text.matchAll(/^\s+bogo-ops: (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
}

async function stressAlone(): Promise<number> {
  const yaml = scratch('bench-none.yaml');
  await execa('stress-ng', stressArgs(preset, seconds, yaml), { reject: false });
  return bogoOps(yaml);
}

/** One printf per call on every kprobe lifetrace uses: what not filtering in the kernel costs. */
async function naive(): Promise<{ events: number; lost: number; ops: number }> {
  const facts = await readKernelFacts();
  const program = resolveProgram(defaultFamilies(facts), facts);
  const points = [
    ...new Set(program.points.filter((p) => p.resolution !== 'missing' && p.attach.startsWith('kprobe:')).map((p) => p.attach)),
  ];
  const text = points.map((p) => `${p} { printf("n\\t%llu\\t%d\\t%s", nsecs, tid, comm); }`).join('\n');
  let events = 0;
  let lost = 0;
  const bt = await startBpftrace(text, {
    onLine(line) {
      if (isPrintf(line)) events++;
      else lost += lostEvents(line);
    },
  });
  // The naive script has no BEGIN marker: attached_probes comes before attaching, so wait a little more.
  await new Promise((r) => setTimeout(r, 5000));
  const yaml = scratch('bench-naive.yaml');
  await execa('stress-ng', stressArgs(preset, seconds, yaml), { reject: false });
  await bt.stop();
  return { events, lost, ops: await bogoOps(yaml) };
}

await ensureTracingMounts();
const none = await stressAlone();
const yaml = scratch('bench-lifetrace.yaml');
const recorded = await recordCapture({ out: scratch('bench.ljsonl'), stress: preset, durationS: seconds, stressMetrics: yaml });
if (!recorded.ok) throw new Error(recorded.error);
const lt = recorded.value;
const ltOps = await bogoOps(yaml);
const nv = await naive();
await writeFile(
  out!,
  JSON.stringify({
    preset,
    seconds,
    kernel: lt.kernel,
    events: lt.events,
    lost: lt.lost,
    ops: ltOps,
    ops_none: none,
    naive_events: nv.events,
    naive_lost: nv.lost,
    naive_ops: nv.ops,
  }),
);
