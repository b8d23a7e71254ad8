/**
 * The pure adapter from wire stats to chart series: points of one or more hosts, grouped by stats
 * interval (hosts sample on the same server tick), summed per family or kind, last N intervals.
 */
import { STATS_INTERVAL_MS, type StatsPoint } from '../../server/shared/wire.js';
import { CHART_WINDOW } from './config.js';
import { formatWallClock } from './format.js';

export interface Series {
  /** One per interval, oldest first (wall clock of the interval). */
  labels: string[];
  /** Sorted by key; data aligned with labels. */
  datasets: { key: string; data: number[] }[];
}

export type Measure = 'rate' | 'live';

/**
 * `keep` chooses which keys (families, kinds) are drawn; null draws all. Intervals with no point
 * of a key count 0 for it (a host that stopped sending has no rate and no objects shown).
 */
export function statsToSeries(
  points: readonly StatsPoint[],
  measure: Measure,
  keep: ((key: string) => boolean) | null = null,
  window = CHART_WINDOW,
): Series {
  const buckets = new Map<number, Map<string, number>>();
  const keys = new Set<string>();
  for (const p of points) {
    const b = Math.round(p.wall / STATS_INTERVAL_MS);
    let sums = buckets.get(b);
    if (!sums) buckets.set(b, (sums = new Map()));
    for (const [k, v] of Object.entries(p[measure])) {
      if (keep && !keep(k)) continue;
      keys.add(k);
      sums.set(k, (sums.get(k) ?? 0) + v);
    }
  }
  const order = [...buckets.keys()].sort((a, b) => a - b).slice(-window);
  const sorted = [...keys].sort();
  return {
    labels: order.map((b) => formatWallClock(b * STATS_INTERVAL_MS)),
    datasets: sorted.map((key) => ({ key, data: order.map((b) => buckets.get(b)!.get(key) ?? 0) })),
  };
}

/**
 * Lost events per interval, aligned with statsToSeries' labels for the same points. StatsPoint.lost
 * is the host's running total (server/live/host-session.ts), so each interval gets the increase
 * since that host's previous point; the first point of a host in the window counts 0.
 */
export function lostSeries(points: readonly StatsPoint[], window = CHART_WINDOW): number[] {
  const buckets = new Map<number, number>();
  const prev = new Map<string, number>();
  for (const p of [...points].sort((a, b) => a.wall - b.wall)) {
    const b = Math.round(p.wall / STATS_INTERVAL_MS);
    const before = prev.get(p.host);
    prev.set(p.host, p.lost);
    buckets.set(b, (buckets.get(b) ?? 0) + (before === undefined ? 0 : Math.max(0, p.lost - before)));
  }
  return [...buckets.keys()]
    .sort((a, b) => a - b)
    .slice(-window)
    .map((b) => buckets.get(b)!);
}
