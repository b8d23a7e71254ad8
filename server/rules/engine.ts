/**
 * Routes each event to the rules that asked for its kind, around the World's update. A rule or the
 * World that throws is contained here, the one place every record goes through: the error is told to
 * the Failures sink (a counted anomaly naming the rule and the record) and the analysis goes on with
 * the next rule and the next record. A bug in one rule never stops the others, nor the stream.
 */
import type { EventKind, KernelEvent } from '../model/events.js';
import type { Nanos } from '../model/time.js';
import type { World } from '../lifetime/world.js';
import type { FlagSink, Guard, Rule, RuleInfo, RuleInstance, RuleOptions } from './rule.js';
import { KernelGuards } from './guards.js';

/** The rules that look at one kind of event: those that named it, then those that look at all. */
interface Watchers {
  before: RuleInstance[];
  after: RuleInstance[];
}

/** Where contained errors go. `ev` is the record being analyzed (undefined at the end of input). */
export interface Failures {
  ruleThrew(rule: RuleInfo, ev: KernelEvent | undefined, error: unknown): void;
  /** The World could not apply `ev`: the rules after it see the World without it. */
  modelThrew(ev: KernelEvent, error: unknown): void;
}

export class RuleEngine {
  private readonly instances: RuleInstance[];
  /** The rule each instance runs (for naming it when it throws). */
  private readonly ruleOf = new Map<RuleInstance, Rule>();
  private readonly byKind = new Map<EventKind, Watchers>();
  /** For kinds no rule named. */
  private readonly forAll: Watchers = { before: [], after: [] };
  private readonly byRoute: (Watchers | undefined)[] = [];

  constructor(
    rules: readonly Rule[],
    options: RuleOptions,
    private readonly out: FlagSink,
    private readonly failures: Failures,
    guards = new KernelGuards(),
  ) {
    this.instances = rules.map((r) => {
      const inst = r.create(options, { kernelGuard: () => guards.of(r) ?? NO_FIX });
      this.ruleOf.set(inst, r);
      return inst;
    });
    const named = (stage: 'before' | 'after', k: EventKind): RuleInstance[] =>
      this.instances.filter((i) => i.stage === stage && i.on !== 'all' && i.on.includes(k));
    const all = (stage: 'before' | 'after'): RuleInstance[] => this.instances.filter((i) => i.stage === stage && i.on === 'all');
    this.forAll = { before: all('before'), after: all('after') };
    for (const inst of this.instances) {
      if (inst.on === 'all') continue;
      for (const k of inst.on) {
        if (!this.byKind.has(k))
          this.byKind.set(k, { before: [...named('before', k), ...all('before')], after: [...named('after', k), ...all('after')] });
      }
    }
  }

  /** Applies one event to the world with every interested rule looking on. */
  step(ev: KernelEvent, world: World): void {
    const w = this.byKind.get(ev.kind) ?? this.forAll;
    this.run(w.before, ev, world);
    this.apply(ev, world);
    this.run(w.after, ev, world);
  }

  /**
   * step for an event of a known record route (ROUTE_LIST index): every event of one route has the
   * same kind, so the watchers are looked up once per route, not by kind per event.
   */
  stepRoute(ev: KernelEvent, world: World, route: number): void {
    let w = this.byRoute[route];
    if (w === undefined) {
      w = this.byKind.get(ev.kind) ?? this.forAll;
      this.byRoute[route] = w;
    }
    this.run(w.before, ev, world);
    this.apply(ev, world);
    this.run(w.after, ev, world);
  }

  finish(world: World, end: Nanos): void {
    for (const inst of this.instances) {
      try {
        inst.finish?.(world, this.out, end);
      } catch (e) {
        this.failures.ruleThrew(this.ruleOf.get(inst)!, undefined, e);
      }
    }
  }

  private apply(ev: KernelEvent, world: World): void {
    try {
      world.apply(ev);
    } catch (e) {
      this.failures.modelThrew(ev, e);
    }
  }

  private run(rs: RuleInstance[], ev: KernelEvent, world: World): void {
    for (let i = 0; i < rs.length; i++) {
      try {
        rs[i]!.observe(ev, world, this.out);
      } catch (e) {
        this.failures.ruleThrew(this.ruleOf.get(rs[i]!)!, ev, e);
      }
    }
  }
}

/** Only rules that name a fix ask for their guard; one that names none gets this. */
const NO_FIX: Guard = { fix: 'none named', state: 'unknown', how: 'the rule names no fix' };
