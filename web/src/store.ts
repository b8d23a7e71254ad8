/**
 * What the page knows, fed by the feed socket: hosts, a bounded window of stats points, flags and
 * loss marks. No DOM here: widgets read it, main.ts applies feed messages to it.
 */
import type { FeedMessage, FlagSummary, HostView, LossMark, StatsPoint } from '../../server/shared/wire.js';
import { CHART_WINDOW, MAX_FLAGS_KEPT, MAX_LOSSES_PER_HOST } from './config.js';

export class Store {
  hosts = new Map<string, HostView>();
  /** Per host, oldest first, at most CHART_WINDOW points. */
  points = new Map<string, StatsPoint[]>();
  flags = new Map<string, FlagSummary>();
  /** Per host, oldest first. */
  losses = new Map<string, LossMark[]>();
  version = '';
  /** Flags dropped from memory because of MAX_FLAGS_KEPT (still on the server). */
  evictedFlags = 0;

  /** Applies one feed message; says what changed so main.ts redraws only that. */
  apply(msg: FeedMessage): { hosts: boolean; stats: boolean; flags: boolean; losses: boolean } {
    switch (msg.type) {
      case 'snapshot':
        this.version = msg.version;
        this.hosts.clear();
        this.points.clear();
        this.flags.clear();
        this.losses.clear();
        this.evictedFlags = 0;
        this.setHosts(msg.hosts);
        this.addPoints(msg.stats);
        this.addFlags(msg.flags);
        this.addLosses(msg.losses);
        return { hosts: true, stats: true, flags: true, losses: true };
      case 'stats': {
        const replaced = this.setHosts(msg.hosts);
        this.addPoints(msg.points);
        return { hosts: true, stats: true, flags: replaced, losses: false };
      }
      case 'flags':
        this.addFlags(msg.flags);
        return { hosts: false, stats: false, flags: true, losses: false };
      case 'losses':
        this.addLosses(msg.losses);
        return { hosts: false, stats: false, flags: false, losses: true };
    }
  }

  /**
   * A new run of a host replaces the old one on the server, flags and all (an agent started again,
   * or a server-side replay sought back and analyzing from the start): the page drops that host's
   * flags of the old run. The new run's flags may have come first (the server sends flags before
   * stats): each flag names its run, so only the old run's are dropped.
   */
  private setHosts(hosts: HostView[]): boolean {
    let replaced = false;
    for (const h of hosts) {
      const old = this.hosts.get(h.host);
      if (old !== undefined && old.run !== h.run) {
        for (const [id, f] of this.flags) if (f.host === h.host && f.run !== h.run) this.flags.delete(id);
        replaced = true;
      }
      this.hosts.set(h.host, h);
    }
    return replaced;
  }

  private addPoints(points: StatsPoint[]): void {
    for (const p of points) {
      let list = this.points.get(p.host);
      if (!list) this.points.set(p.host, (list = []));
      // Points arrive in order per host; a repeated or older one (after a snapshot race) is dropped.
      const last = list[list.length - 1];
      if (last && p.wall <= last.wall) continue;
      list.push(p);
      if (list.length > CHART_WINDOW) list.splice(0, list.length - CHART_WINDOW);
    }
  }

  /** New flags and updates (same id: count, confidence, last_s) alike. */
  addFlags(flags: FlagSummary[]): void {
    for (const f of flags) this.flags.set(f.id, f);
    if (this.flags.size > MAX_FLAGS_KEPT) {
      const oldest = [...this.flags.values()].sort((a, b) => a.wall - b.wall).slice(0, this.flags.size - MAX_FLAGS_KEPT);
      for (const f of oldest) this.flags.delete(f.id);
      this.evictedFlags += oldest.length;
    }
  }

  /** A losses message carries each named host's whole list of loss windows: it replaces that host's. */
  private addLosses(losses: LossMark[]): void {
    const byHost = new Map<string, LossMark[]>();
    for (const l of losses) {
      let list = byHost.get(l.host);
      if (!list) byHost.set(l.host, (list = []));
      list.push(l);
    }
    for (const [host, list] of byHost) this.losses.set(host, list.slice(-MAX_LOSSES_PER_HOST));
  }

  /** All points of the chosen hosts (all hosts when null). */
  pointsOf(hosts: string | null): StatsPoint[] {
    if (hosts !== null) return this.points.get(hosts) ?? [];
    return [...this.points.values()].flat();
  }

  /** Object kinds seen anywhere (live counts, flags), sorted. */
  kinds(): string[] {
    const k = new Set<string>();
    for (const list of this.points.values()) for (const p of list) for (const kind of Object.keys(p.live)) k.add(kind);
    for (const f of this.flags.values()) for (const kind of f.kinds) k.add(kind);
    return [...k].sort();
  }
}
