/**
 * Flags and their evidence as trace events.
 *
 * - A flag is an instant on the process of its first object's kind (global when it names none),
 *   with the fields `lifetrace analyze --json` gives it.
 * - Each evidence step is a 1 ns complete slice on the track of the task that did it (pid = the
 *   kernel's tgid, tid = its tid), named after the kernel function.
 * - An evidence chain of two or more steps is a flow from step to step. Flow events attach to a
 *   slice on their thread track; binding them to the enclosing slice ("bp":"e") at the step's own
 *   time always finds the step's slice, whatever else is on the track.
 *
 * The same kernel event is often evidence of several flags; it gets one slice that every chain
 * binds to. Events of one task at the same ns share a slice too, so that the slices of a task track
 * never overlap and a flow's binding is never ambiguous.
 */
import { confidenceOf, uncertaintyOf } from '../analyze/confidence.js';
import type { Analysis } from '../analyze/pipeline.js';
import { describeEvent, stackView } from '../model/describe.js';
import type { KernelEvent } from '../model/events.js';
import { formatObject } from '../model/objects.js';
import type { Flag } from '../rules/flags.js';
import { mailingListLine } from '../rules/rule.js';
import { kindPid } from './lifetimes.js';
import { usec, type TraceEvent } from './trace-json.js';

/** An evidence slice lasts 1 ns: visible, and disjoint from the next ns. */
const STEP_DUR_US = 0.001;

/**
 * Every flag, its evidence slices, its flow and the names of the task tracks they use. A generator,
 * so that the writer can wait for its output between events (thousands of flags are allowed).
 */
export function* flagEvents(a: Analysis): Generator<TraceEvent> {
  const time = a.decoder.time;
  const flags = [...a.flags.all()].sort((x, y) => x.time - y.time || x.rule.localeCompare(y.rule));
  const steps = new Map<string, KernelEvent[]>();
  const threads = new Map<string, { pid: number; tid: number; comm: string }>();
  const processes = new Map<number, string>();
  const stepKey = (e: KernelEvent): string => `${e.pid}/${e.tid}/${e.t}`;

  // Instants first, collecting the distinct steps; then the step slices; then the flows. A viewer
  // binds a flow event to a slice already begun, and one that sorts by ts keeps file order at equal
  // ts (Perfetto does), so each step's slice must come before the flow events at its time.
  const flowOf = new Map<Flag, number>();
  for (const f of flags) {
    if (f.evidence.length >= 2) flowOf.set(f, flowOf.size + 1);
    yield flagInstant(f, uncertaintyOf(a, f), time.absolute(f.time), flowOf.get(f) ?? null);
    for (const e of f.evidence) {
      const key = stepKey(e);
      const same = steps.get(key);
      if (same === undefined) steps.set(key, [e]);
      else if (!same.some((x) => x.line === e.line)) same.push(e);
      if (!threads.has(`${e.pid}/${e.tid}`)) threads.set(`${e.pid}/${e.tid}`, { pid: e.pid, tid: e.tid, comm: e.comm });
      if (!processes.has(e.pid)) processes.set(e.pid, e.comm);
    }
  }

  for (const evs of steps.values()) {
    const e = evs[0]!;
    yield {
      ph: 'X',
      name: [...new Set(evs.map((x) => x.fn))].join(', '),
      cat: 'evidence',
      pid: e.pid,
      tid: e.tid,
      ts: usec(e.t),
      dur: STEP_DUR_US,
      args: {
        events: evs.map((x) => ({
          line: x.line,
          cpu: x.cpu,
          comm: x.comm,
          fn: x.fn,
          event: x.kind,
          detail: describeEvent(x),
          time: time.absolute(x.t),
          ...stackView(x),
        })),
      },
    };
  }

  for (const [f, flow] of flowOf) {
    for (let i = 0; i < f.evidence.length; i++) {
      const e = f.evidence[i]!;
      const ph = i === 0 ? 's' : i === f.evidence.length - 1 ? 'f' : 't';
      yield { ph, name: 'evidence', cat: 'evidence', id: flow, pid: e.pid, tid: e.tid, ts: usec(e.t), bp: 'e' };
    }
  }

  for (const [pid, comm] of processes) yield { ph: 'M', name: 'process_name', pid, tid: pid, args: { name: `${comm} (pid ${pid})` } };
  for (const { pid, tid, comm } of threads.values()) yield { ph: 'M', name: 'thread_name', pid, tid, args: { name: `${comm} ${tid}` } };
}

function flagInstant(f: Flag, uncertainty: string[], time: string, flow: number | null): TraceEvent {
  const first = f.objects[0];
  const pid = first === undefined ? 0 : kindPid(first.kind);
  return {
    ph: 'i',
    name: f.rule,
    cat: 'flag',
    pid,
    tid: pid,
    ts: usec(f.time),
    s: first === undefined ? 'g' : 'p',
    args: {
      rule: f.rule,
      severity: f.severity,
      confidence: confidenceOf(uncertainty),
      uncertainty,
      count: f.count,
      time,
      objects: f.objects.map(formatObject),
      message: f.message,
      guard: f.guard ? { ...f.guard } : null,
      thread: mailingListLine(f.mailingList),
      evidence_lines: f.evidence.map((e) => e.line),
      flow,
    },
  };
}
