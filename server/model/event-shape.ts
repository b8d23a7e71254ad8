/**
 * What every event has, whatever its family: the kernel address type, the origin of a record (who,
 * where, when) and the shape of one event kind. The family folders (server/families/<family>/events.ts)
 * build their event types from these; model/events.ts joins them into the one event union.
 */
import type { Nanos } from './time.js';

/** A kernel address as bpftrace prints it with %lx: lower-case hex, no 0x prefix. */
export type Addr = string & { readonly __addr: unique symbol };

/**
 * A kernel stack as bpftrace's kstack symbolized it: `function+offset` frames, innermost first (the
 * probed function itself, or the tracepoint's caller, comes first); no frames when the kernel could
 * not give it. `atReturn`: taken at a kretprobe, after the probed function returned. Shared by the
 * events with the same stack: never modify one.
 */
export interface KernelStack {
  readonly frames: readonly string[];
  readonly atReturn: boolean;
}

/** Who and where: every record carries these (`stack` only the records of a capture that has stacks). */
export interface Origin {
  /** Kernel time relative to the capture's TimeBase. */
  t: Nanos;
  cpu: number;
  /** Thread-group id (the process). */
  pid: number;
  tid: number;
  comm: string;
  /** Line number in the capture: provenance, and the tie-break at equal times. */
  line: number;
  /**
   * The kernel stack when the record was printed (captures of the kprobe families since stacks
   * were added; empty when the kernel could not give it). A record printed at a kretprobe has the
   * stack at the return, even when its fields were saved at entry.
   */
  stack?: KernelStack;
}

export type NoFields = Record<never, never>;

/** One event kind: its origin, `kind`, the kernel function (or tracepoint) `fn` it came from, and its fields. */
export type EventShape<K extends string, F> = Origin & { kind: K; fn: string } & F;

/** For each kind of the union `U`, a function of that kind's event: describers, lifetime effects. */
export type PerKind<U extends { kind: string }, Args extends unknown[], R> = {
  [K in U['kind']]: (...args: [...Args, Extract<U, { kind: K }>]) => R;
};

/** An address as evidence shows it. */
export const hex = (a: string): string => `0x${a}`;
