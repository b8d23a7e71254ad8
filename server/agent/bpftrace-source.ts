/** The agent's source on this machine's kernel: the probes, run by bpftrace. */
import type { Family } from '../model/events.js';
import { describeExit, isReadyMarker, startBpftrace, type BpftraceRun } from '../recorder/bpftrace.js';
import { prepareRecording } from '../recorder/record-capture.js';
import { ok, type Result } from '../support/result.js';
import { printfNsecsOf } from '../decode/envelope.js';
import { rulesFor, type LineSource } from './sources.js';

/** Restarts of a bpftrace that keeps dying before it attaches, before the agent gives up. */
const MAX_FAILED_STARTS = 5;

/**
 * The probes on this machine's kernel, through bpftrace. If bpftrace dies (killed, OOM), it is
 * started again, and the time it was not running goes into the stream as a `lifetrace_gap` record
 * (docs/capture-format.md): from its last record to the new run's first, in kernel time, so that
 * no rule claims certainty across it. An error when this machine cannot trace (see prepareRecording).
 */
export async function bpftraceSource(families: Family[] | undefined, log: (s: string) => void): Promise<Result<LineSource>> {
  const prepared = await prepareRecording({ families, header: { agent: true }, log });
  if (!prepared.ok) return prepared;
  const { header, program } = prepared.value;
  let run: BpftraceRun | undefined;
  let stopped = false;
  let wake: (() => void) | undefined;
  return ok({
    info: { header, mode: 'live', rules: rulesFor(program.tags) },
    async run(onLine) {
      let lastNs: string | undefined; // kernel time of the newest record of the running bpftrace
      let gapFrom: { ns: string; why: string } | undefined;
      let failed = 0;
      for (let round = 1; ; round++) {
        const current = await startBpftrace(program.text, {
          // Each line's bytes, sent on as bpftrace printed them: never decoded to text.
          onLine(line) {
            const ns = printfNsecsOf(line);
            if (ns !== undefined) {
              if (gapFrom !== undefined && isReadyMarker(line)) {
                // The new run's probes are attached as of this record: the gap ends here.
                onLine(line);
                onLine(JSON.stringify({ type: 'lifetrace_gap', data: { from: gapFrom.ns, to: ns, reason: gapFrom.why } }));
                gapFrom = undefined;
                return;
              }
              lastNs = ns;
            }
            onLine(line);
          },
        });
        run = current;
        if (stopped) await current.stop();
        const attached = await current.attached.then(
          () => true,
          () => false,
        );
        if (attached) {
          failed = 0;
          log(
            round === 1
              ? `lifetrace: probes attached on ${header.kernel}`
              : 'lifetrace: bpftrace restarted; the time it was down is recorded as a gap',
          );
        }
        const exit = await current.done;
        if (stopped) return 'stopped';
        const why = `bpftrace exited (${describeExit(exit)})${exit.errors.length ? `: ${exit.errors.slice(-3).join(' | ')}` : ''}`;
        if (!attached && ++failed >= MAX_FAILED_STARTS) return `${why}; gave up after ${failed} failed starts`;
        log(`lifetrace: ${why}; starting it again`);
        gapFrom ??= { ns: lastNs ?? process.hrtime.bigint().toString(), why: `${why}; restarted by the agent` };
        // Back off when it keeps failing to start.
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, Math.min(30_000, 500 * 2 ** failed));
        });
        if (stopped) return 'stopped';
      }
    },
    stop() {
      stopped = true;
      wake?.();
      void run?.stop();
    },
  });
}
