/** One-line, human-readable rendering of an event's own fields (evidence and dumps). */
import { describeDcache } from '../families/dcache/describe.js';
import { describeEpoll } from '../families/epoll/describe.js';
import { describeFile } from '../families/file/describe.js';
import { describeFsnotify } from '../families/fsnotify/describe.js';
import { describeTracefs } from '../families/tracefs/describe.js';
import type { EventFacts } from '../shared/wire.js';
import type { PerKind } from './event-shape.js';
import type { KernelEvent } from './events.js';

/**
 * An event's kernel stack as evidence shows it: `stack`, the frames innermost first (none: the
 * kernel could not give it), and `stack_at: 'return'` when it was taken at a kretprobe (after the
 * probed function returned, whatever the record's fields say of its entry). Nothing for an event
 * without a stack (a capture made before stacks, or the syscalls fallback).
 */
export interface StackView {
  stack?: string[];
  stack_at?: 'return';
}

export function stackView(ev: KernelEvent): StackView {
  const s = ev.stack;
  if (s === undefined) return {};
  return s.atReturn ? { stack: [...s.frames], stack_at: 'return' } : { stack: [...s.frames] };
}

/** The facts evidence shows of an event, whatever the view (report step, dashboard, export). */
export function eventFacts(e: KernelEvent): EventFacts {
  return {
    cpu: e.cpu,
    pid: e.pid,
    tid: e.tid,
    comm: e.comm,
    fn: e.fn,
    event: e.kind,
    detail: describeEvent(e),
    line: e.line,
    ...stackView(e),
  };
}

/** The stack as text lines (report, export): a header saying where it was taken, then a frame a line. */
export function stackLines(v: StackView): string[] {
  if (v.stack === undefined) return [];
  const head = v.stack_at === 'return' ? 'kernel stack at the return:' : 'kernel stack:';
  return v.stack.length === 0 ? [`${head} unavailable (the kernel could not give it)`] : [head, ...v.stack];
}

/** Every kind's describer, from its family (the compiler checks that none is missing). */
const DESCRIBE: PerKind<KernelEvent, [], string> = {
  ...describeFile,
  ...describeEpoll,
  ...describeDcache,
  ...describeFsnotify,
  ...describeTracefs,
};

export function describeEvent(ev: KernelEvent): string {
  return (DESCRIBE[ev.kind] as (ev: KernelEvent) => string)(ev);
}
