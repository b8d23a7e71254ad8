/**
 * What a server's `/metrics` and a fleet worker's share: metrics read when a scrape comes (reset,
 * then filled from the state at that moment, so nothing is counted twice and a host let go of takes
 * its series with it), and the per-host figures under one set of names and labels, so that one
 * dashboard and one alert rule serve both (docs/live.md#metrics, docs/fleet.md#metrics).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { HostView } from '../shared/wire.js';

/** A counter whose value is set from the current state at each scrape. */
export function scrapedCounter(r: Registry, name: string, help: string, labels: string[], fill: (c: Counter) => void): Counter {
  return new Counter({
    name,
    help,
    labelNames: labels,
    registers: [r],
    collect() {
      this.reset();
      fill(this);
    },
  });
}

/** A gauge set from the current state at each scrape. */
export function scrapedGauge(r: Registry, name: string, help: string, labels: string[], fill: (g: Gauge) => void): Gauge {
  return new Gauge({
    name,
    help,
    labelNames: labels,
    registers: [r],
    collect() {
      this.reset();
      fill(this);
    },
  });
}

/** A host as its metrics see it: its view, and its flag occurrences by `rule|severity`. */
export interface MeteredHost {
  view: HostView;
  flagCounts(): ReadonlyMap<string, number>;
}

/**
 * The per-host totals: events, lost events, missing and duplicate batches, anomalies by kind, flag
 * occurrences by rule and severity. Counters set from the analysis' own totals at each scrape.
 */
export function registerHostMetrics(r: Registry, hosts: () => MeteredHost[]): void {
  const perHost = (name: string, help: string, value: (v: HostView) => number) =>
    scrapedCounter(r, name, help, ['host'], (c) => {
      for (const { view } of hosts()) c.inc({ host: view.host }, value(view));
    });
  perHost('lifetrace_events_total', 'Kernel events analyzed, by host.', (v) => v.events);
  perHost('lifetrace_lost_events_total', 'Kernel events the probes lost (bpftrace lost_events), by host.', (v) => v.lost);
  perHost(
    'lifetrace_missing_batches_total',
    "Batches missing from the host's stream (they never arrived: a recorded loss), by host.",
    (v) => v.missingBatches,
  );
  perHost('lifetrace_duplicate_batches_total', 'Batches received twice and ignored, by host.', (v) => v.duplicates);
  scrapedCounter(
    r,
    'lifetrace_anomalies_total',
    'Records the decoder could not take as they came (docs/capture-format.md), by host and kind.',
    ['host', 'kind'],
    (c) => {
      for (const { view } of hosts()) for (const [kind, n] of Object.entries(view.anomalyKinds)) c.inc({ host: view.host, kind }, n);
    },
  );
  scrapedCounter(r, 'lifetrace_flags_total', 'Flag occurrences raised, by host, rule and severity.', ['host', 'rule', 'severity'], (c) => {
    for (const h of hosts()) {
      for (const [key, n] of h.flagCounts()) {
        const [rule, severity] = key.split('|') as [string, string];
        c.inc({ host: h.view.host, rule, severity }, n);
      }
    }
  });
}
