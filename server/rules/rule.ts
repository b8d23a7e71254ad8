/**
 * A rule watches the event stream and the reconstructed World for one suspicious ordering. Each
 * rule lives in its own file with its id, severity, the mailing-list thread it comes from and an
 * explanation a kernel developer would accept.
 */
import type { RecordTag } from '../families/catalog.js';
import type { EventKind, EventOf, KernelEvent } from '../model/events.js';
import type { ObjectId } from '../model/objects.js';
import type { Nanos } from '../model/time.js';
import type { World } from '../lifetime/world.js';
import type { FixCheck, Guard } from '../model/fixes.js';
import type { Severity } from '../shared/severity.js';
export type { Severity } from '../shared/severity.js';

/**
 * The mailing-list threads the rules come from (the seed threads in shared/seeds, by file prefix).
 * "Thread" here is a discussion, never a task: reports call the field `thread`, the code says mailing list.
 */
export const MAILING_LIST_THREADS = {
  '000': 'epoll: EPOLL_CTL_ADD loop checks vs files dying in __fput (Viro, 2020; a9ed4a6560b8, 77f4689de17c)',
  '001': 'epoll calling ->poll() on a file being closed (Torvalds, Brauner, 2024; 4efaa5acf0a1, CVE-2024-38580)',
  '002': 'fsnotify: permission events vs mark teardown (Kara, Goldstein, 2016; abc77577a669)',
  '003': 'dcache_readdir() vs devpts removal (Viro, Brauner, 2019; d4f4de5e5ef8, 26b6c9843384)',
  '004': 'eventfs: dentries used after their directory was removed (Rostedt, Torvalds, 2024; 43aa6f97c2d0)',
} as const;
export type MailingListThread = keyof typeof MAILING_LIST_THREADS;

/** "001: epoll calling ->poll() on a file being closed (...)": how reports name a thread. */
export function mailingListLine(t: MailingListThread): string {
  return `${t}: ${MAILING_LIST_THREADS[t]}`;
}

export interface RuleInfo {
  id: string;
  /** The highest severity the rule can raise; each flag says its own (see docs/rules.md). */
  severity: Severity;
  /** The mailing-list thread it comes from (reports: `thread`). */
  mailingList: MailingListThread;
  title: string;
  explanation: string;
  /** The fix that closes the historical window, e.g. "4efaa5acf0a1 (epoll: be better about file lifetimes, v6.9)". */
  fix?: string;
  /**
   * A guard decision that needs no fact of the kernel (e.g. no fix guards a use after free). Rules
   * without it are decided from the capture header's check of their fix's commit, else per flag.
   */
  fixedGuard?: FixCheck;
}

export type { Guard, GuardState } from '../model/fixes.js';

/** What a rule instance may ask of the analysis it runs in. */
export interface RuleContext {
  /**
   * The rule's kernel-level guard: decided from the traced kernel's own facts at capture time
   * (the capture header's `fixes`), or unknown when the header records none. Ask it when raising
   * (the header is read before any event, but after the rule was created).
   */
  kernelGuard(): Guard;
}

export interface RaisedFlag {
  /** Occurrences with the same key are one flag with a count (e.g. one per object). */
  key: string;
  severity?: Severity;
  time: Nanos;
  objects: ObjectId[];
  /** The ordered events that show it. */
  evidence: (KernelEvent | undefined)[];
  message: string;
  /** This flag's own guard decision, when the evidence settles it. */
  guard?: Guard;
}

export interface FlagSink {
  raise(rule: RuleInfo, flag: RaisedFlag): void;
}

export interface RuleOptions {
  /** fsnotify.long-permission-wait threshold. */
  permWaitNs: number;
}

export const DEFAULT_RULE_OPTIONS: RuleOptions = { permWaitNs: 100_000_000 };

/** `K`: the kinds it looks at, so `observe` gets only those (see `watch`). */
export interface RuleInstance<K extends EventKind = EventKind> {
  /** Event kinds this rule looks at; 'all' for every event. */
  on: readonly K[] | 'all';
  /** Looks at the World as it was before the event ('before') or after applying it ('after'). */
  stage: 'before' | 'after';
  /** Called only for the kinds of `on` (the engine routes by kind). */
  observe(ev: EventOf<K>, world: World, out: FlagSink): void;
  /** End of input: flag what is still pending. `end` is the last event time. */
  finish?(world: World, out: FlagSink, end: Nanos): void;
}

/**
 * A rule instance whose `observe` gets the events of its `on` kinds, typed as those kinds:
 * `watch({ on: ['ep.poll', 'target.poll'], ... observe(ev) {...} })` gives `ev: EpPoll | TargetPoll`.
 */
export function watch<const K extends EventKind = EventKind>(instance: RuleInstance<K>): RuleInstance {
  return instance as unknown as RuleInstance;
}

/**
 * The probe records a rule works from: all of `all`, at least one of `any`; without an `optional`
 * one it still runs, degraded. Tags are the record tags of probes/README.md (families/catalog.ts).
 */
export interface RuleNeeds {
  all?: readonly RecordTag[];
  any?: readonly RecordTag[];
  optional?: readonly RecordTag[];
}

export interface Rule extends RuleInfo {
  needs: RuleNeeds;
  create(options: RuleOptions, context: RuleContext): RuleInstance;
}

/** The identity of a tracked object, for flags. */
export function idOf(o: { kind: ObjectId['kind']; addr: ObjectId['addr']; gen: number }): ObjectId {
  return { kind: o.kind, addr: o.addr, gen: o.gen };
}
