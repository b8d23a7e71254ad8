/**
 * A fleet worker's `GET /metrics` (docs/fleet.md#metrics): its state in Prometheus' text format.
 * Everything is read from the worker and its feeds when a scrape comes, so nothing is counted twice
 * and a host the worker let go of takes its series with it (its new owner exports them, from its
 * replay). The per-host figures have the server's names and labels (server/live/metrics.ts) where
 * they mean the same, so one dashboard and one alert rule serve both; what only a worker has is
 * `lifetrace_fleet_*`. The process' own metrics are prom-client's defaults.
 */
import { collectDefaultMetrics, type Counter, type Gauge, Registry } from 'prom-client';
import { registerHostMetrics, scrapedCounter, scrapedGauge } from '../live/host-metrics.js';
import type { HostView } from '../shared/wire.js';
import type { HostFeed } from './host-feed.js';
import type { FleetWorker, ReleaseReason } from './worker.js';

export type MetricsText = { contentType: string; body: string };

export class WorkerMetrics {
  private readonly registry = new Registry();
  /** Requests the metrics listener refused, by reason (`lifetrace_refused_total`, as the server's). */
  private readonly refused = new Map<string, number>();

  constructor(worker: FleetWorker) {
    const r = this.registry;
    collectDefaultMetrics({ register: r, prefix: 'lifetrace_' });
    // The owned hosts that have a run (a feed before its first hello has nothing to say yet).
    const hosts = (): { feed: HostFeed; view: HostView }[] =>
      worker.ownedFeeds().flatMap((feed) => {
        const view = feed.view();
        return view === undefined ? [] : [{ feed, view }];
      });

    const counter = (name: string, help: string, labels: string[], fill: (c: Counter) => void) =>
      scrapedCounter(r, name, help, labels, fill);
    const gauge = (name: string, help: string, labels: string[], fill: (g: Gauge) => void) => scrapedGauge(r, name, help, labels, fill);

    // The server's names and labels: the same meaning, for the host's current run.
    registerHostMetrics(r, () => hosts().map(({ feed, view }) => ({ view, flagCounts: () => feed.flagCounts() })));
    counter('lifetrace_refused_total', 'Requests to the metrics listener refused, by reason (docs/security.md).', ['reason'], (c) => {
      for (const [reason, n] of this.refused) c.inc({ reason }, n);
    });
    gauge('lifetrace_hosts', 'Hosts this worker owns.', [], (g) => g.set(worker.ownedFeeds().length));

    // The worker's own.
    gauge('lifetrace_fleet_worker_info', "This worker's id (its name among the workers), as a label; always 1.", ['worker'], (g) =>
      g.set({ worker: worker.id }, 1),
    );
    counter('lifetrace_fleet_leases_taken_total', 'Host leases this worker took (each then replays the host from its start).', [], (c) =>
      c.inc(worker.counts.leasesTaken),
    );
    counter(
      'lifetrace_fleet_leases_released_total',
      "Hosts this worker let go of, by reason: rebalanced (another worker's share now), lease-lost (taken while this one stalled), stopped.",
      ['reason'],
      (c) => {
        for (const [reason, n] of Object.entries(worker.counts.leasesReleased) as [ReleaseReason, number][]) c.inc({ reason }, n);
      },
    );
    const perFeed = (name: string, help: string, value: (f: HostFeed) => number) =>
      counter(name, help, ['host'], (c) => {
        for (const f of worker.ownedFeeds()) c.inc({ host: f.host }, value(f));
      });
    perFeed(
      'lifetrace_fleet_stream_messages_total',
      "Messages of the host's stream handled (hello, batches, end), by host.",
      (f) => f.counts.messages,
    );
    perFeed('lifetrace_fleet_stream_bytes_total', "Bytes of the host's stream read and analyzed, by host.", (f) => f.counts.bytes);
    perFeed(
      'lifetrace_fleet_results_published_total',
      'Result messages (flags, loss lists) published, by host.',
      (f) => f.counts.published,
    );
    perFeed(
      'lifetrace_fleet_results_publish_failures_total',
      'Result publishes the broker did not store, by host (the next publish sends the whole state again).',
      (f) => f.counts.publishFailures,
    );
    perFeed(
      'lifetrace_fleet_results_republished_total',
      "Result messages published again as the host's whole state after a failure, by host.",
      (f) => f.counts.republished,
    );
    gauge(
      'lifetrace_fleet_backlog_messages',
      "Messages of the host's stream not yet analyzed (0 once caught up), by host.",
      ['host'],
      (g) => {
        for (const f of worker.ownedFeeds()) g.set({ host: f.host }, f.backlog);
      },
    );
    // The feed's LagView: the time from when the worker could have each batch (stored, or the host
    // taken) to its analysis, over the batches since it took the host.
    gauge(
      'lifetrace_fleet_analysis_lag_seconds',
      'Time from a batch being in the stream (or the host taken) to its analysis, by host; quantile 0.5, 0.99 and 1 (the max) over its batches.',
      ['host', 'quantile'],
      (g) => {
        for (const f of worker.ownedFeeds()) {
          const lag = f.lag();
          if (lag.batches === 0) continue;
          g.set({ host: f.host, quantile: '0.5' }, lag.p50 / 1000);
          g.set({ host: f.host, quantile: '0.99' }, lag.p99 / 1000);
          g.set({ host: f.host, quantile: '1' }, lag.max / 1000);
        }
      },
    );
    gauge('lifetrace_fleet_nats_connected', '1 while the worker is connected to the NATS server, else 0.', [], (g) =>
      g.set(worker.connected ? 1 : 0),
    );
    counter('lifetrace_fleet_nats_disconnects_total', 'Connections to the NATS server lost.', [], (c) => c.inc(worker.counts.disconnects));
    counter('lifetrace_fleet_nats_reconnects_total', 'Connections to the NATS server made again after a loss.', [], (c) =>
      c.inc(worker.counts.reconnects),
    );
    counter('lifetrace_fleet_nats_bytes_total', 'Bytes of the NATS connection, by direction (in, out).', ['direction'], (c) => {
      const t = worker.traffic();
      c.inc({ direction: 'in' }, t.inBytes);
      c.inc({ direction: 'out' }, t.outBytes);
    });
  }

  /** Counts a request the listener refused. */
  refuse(reason: string): void {
    this.refused.set(reason, (this.refused.get(reason) ?? 0) + 1);
  }

  async text(): Promise<MetricsText> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
