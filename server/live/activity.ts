/**
 * A host's activity samples (the dashboard's charts), oldest first, the newest MAX_POINTS of them:
 * kept the same way by every kind of session.
 */
import type { StatsPoint } from '../shared/wire.js';

/** Samples kept per host: ten minutes at one every 500 ms. */
export const MAX_POINTS = 1200;

export class Activity {
  private readonly kept: StatsPoint[] = [];

  get points(): readonly StatsPoint[] {
    return this.kept;
  }

  /** A new sample, the newest. */
  add(p: StatsPoint): void {
    this.kept.push(p);
    this.trim();
  }

  /** Samples from before the first one kept (a history asked for late), in order; the others are had already. */
  addOlder(points: readonly StatsPoint[]): void {
    const first = this.kept[0]?.wall ?? Infinity;
    this.kept.unshift(...points.filter((p) => p.wall < first));
    this.trim();
  }

  private trim(): void {
    if (this.kept.length > MAX_POINTS) this.kept.splice(0, this.kept.length - MAX_POINTS);
  }
}
