/** Routes each event to the rules that asked for its kind, around the World's update. */
import type { EventKind, KernelEvent } from '../model/events.js';
import type { Nanos } from '../model/time.js';
import type { World } from '../lifetime/world.js';
import type { FlagSink, Rule, RuleInstance, RuleOptions } from './rule.js';
import { KernelGuards } from './guards.js';

/** The rules that look at one kind of event: those that named it, then those that look at all. */
interface Watchers {
  before: RuleInstance[];
  after: RuleInstance[];
}

export class RuleEngine {
  private readonly instances: RuleInstance[];
  private readonly byKind = new Map<EventKind, Watchers>();
  /** For kinds no rule named. */
  private readonly forAll: Watchers = { before: [], after: [] };
  private readonly byRoute: (Watchers | undefined)[] = [];

  constructor(rules: readonly Rule[], options: RuleOptions, private readonly out: FlagSink, guards = new KernelGuards()) {
    this.instances = rules.map((r) => r.create(options, { kernelGuard: () => guards.of(r) }));
    const named = (stage: 'before' | 'after', k: EventKind): RuleInstance[] =>
      this.instances.filter((i) => i.stage === stage && i.on !== 'all' && i.on.includes(k));
    const all = (stage: 'before' | 'after'): RuleInstance[] => this.instances.filter((i) => i.stage === stage && i.on === 'all');
    this.forAll = { before: all('before'), after: all('after') };
    for (const inst of this.instances) {
      if (inst.on === 'all') continue;
      for (const k of inst.on) {
        if (!this.byKind.has(k)) this.byKind.set(k, { before: [...named('before', k), ...all('before')], after: [...named('after', k), ...all('after')] });
      }
    }
  }

  /** Applies one event to the world with every interested rule looking on. */
  step(ev: KernelEvent, world: World): void {
    const w = this.byKind.get(ev.kind) ?? this.forAll;
    this.run(w.before, ev, world);
    world.apply(ev);
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
    world.apply(ev);
    this.run(w.after, ev, world);
  }

  finish(world: World, end: Nanos): void {
    for (const inst of this.instances) inst.finish?.(world, this.out, end);
  }

  private run(rs: RuleInstance[], ev: KernelEvent, world: World): void {
    for (let i = 0; i < rs.length; i++) rs[i]!.observe(ev, world, this.out);
  }
}
