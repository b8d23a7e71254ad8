/** Routes each event to the rules that asked for its kind, around the World's update. */
import type { EventKind, KernelEvent } from '../model/events.js';
import type { Nanos } from '../model/time.js';
import type { World } from '../lifetime/world.js';
import type { FlagSink, Rule, RuleInstance, RuleOptions } from './rule.js';

type Table = { byKind: Map<EventKind, RuleInstance[]>; all: RuleInstance[] };

export class RuleEngine {
  private readonly instances: RuleInstance[];
  private readonly before: Table = { byKind: new Map(), all: [] };
  private readonly after: Table = { byKind: new Map(), all: [] };

  constructor(rules: readonly Rule[], options: RuleOptions, private readonly out: FlagSink) {
    this.instances = rules.map((r) => r.create(options));
    for (const inst of this.instances) {
      const table = inst.stage === 'before' ? this.before : this.after;
      if (inst.on === 'all') table.all.push(inst);
      else for (const k of inst.on) table.byKind.set(k, [...(table.byKind.get(k) ?? []), inst]);
    }
  }

  /** Applies one event to the world with every interested rule looking on. */
  step(ev: KernelEvent, world: World): void {
    this.run(this.before, ev, world);
    world.apply(ev);
    this.run(this.after, ev, world);
  }

  finish(world: World, end: Nanos): void {
    for (const inst of this.instances) inst.finish?.(world, this.out, end);
  }

  private run(table: Table, ev: KernelEvent, world: World): void {
    const rs = table.byKind.get(ev.kind);
    if (rs !== undefined) for (const r of rs) r.observe(ev, world, this.out);
    for (const r of table.all) r.observe(ev, world, this.out);
  }
}
