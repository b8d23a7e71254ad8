/**
 * `GET /metrics`: the server's state in Prometheus' text format, for the operators' own monitoring
 * (docs/live.md#metrics has the names and an alert rule). Everything is read from the hub when a
 * scrape comes, so the numbers are the ones `/api/hosts` and `/api/server` show at that moment and
 * nothing is counted twice; only the process' own metrics (memory, CPU, event-loop lag) are
 * prom-client's defaults.
 */
import { collectDefaultMetrics, type Counter, type Gauge, Registry } from 'prom-client';
import { registerHostMetrics, scrapedCounter, scrapedGauge } from './host-metrics.js';
import type { Hub } from './hub.js';

/** The content type of the text exposition format (`registry.contentType`). */
export type MetricsText = { contentType: string; body: string };

export class ServerMetrics {
  private readonly registry = new Registry();

  constructor(hub: Hub) {
    const r = this.registry;
    collectDefaultMetrics({ register: r, prefix: 'lifetrace_' }); // lifetrace_process_*, lifetrace_nodejs_*
    const views = () => hub.hosts();
    registerHostMetrics(r, () => [...hub.sessions.values()].map((s) => ({ view: s.view(), flagCounts: () => s.flagCounts() })));
    const counter = (name: string, help: string, labels: string[], fill: (c: Counter) => void) =>
      scrapedCounter(r, name, help, labels, fill);
    const gauge = (name: string, help: string, labels: string[], fill: (g: Gauge) => void) => scrapedGauge(r, name, help, labels, fill);
    counter(
      'lifetrace_refused_total',
      'Requests, frames and connections refused (hostile or broken), by reason (docs/security.md).',
      ['reason'],
      (c) => {
        for (const [reason, n] of hub.rejected) c.inc({ reason }, n);
      },
    );
    counter(
      'lifetrace_storage_events_total',
      "The server's own disk: journal and capture-library events by kind (docs/security.md).",
      ['kind'],
      (c) => {
        for (const [kind, n] of hub.storage.counts) c.inc({ kind }, n);
      },
    );

    gauge('lifetrace_hosts', 'Hosts the server follows.', [], (g) => g.set(hub.sessions.size));
    gauge('lifetrace_feeds', 'Browser feeds connected.', [], (g) => g.set(hub.feedCount));
    gauge('lifetrace_host_connected', "1 while the host's agent (or server replay) is connected, else 0.", ['host'], (g) => {
      for (const v of views()) g.set({ host: v.host }, v.connected ? 1 : 0);
    });
    // How far behind the stream is: the wall time since its last batch while the agent is connected.
    // An agent that stalls (or a kernel that stops printing) shows as a growing age.
    gauge('lifetrace_agent_last_batch_age_seconds', 'Seconds since the last batch of a connected host.', ['host'], (g) => {
      const now = hub.options.clock();
      for (const v of views())
        if (v.connected && v.lastBatchWall !== null) g.set({ host: v.host }, Math.max(0, now - v.lastBatchWall) / 1000);
    });
    gauge('lifetrace_journal_bytes', "Bytes in the host's journal (what lets a restarted server resume it).", ['host'], (g) => {
      for (const v of views()) if (v.journal !== null) g.set({ host: v.host }, v.journal.bytes);
    });
    gauge('lifetrace_recording_bytes', 'Bytes written to the capture being recorded from the host.', ['host'], (g) => {
      for (const v of views()) if (v.recording !== null) g.set({ host: v.host }, v.recording.bytes);
    });
    // The analysis worker threads (serve --workers): how far behind each one is. A backlog near the
    // high-water mark means its hosts' agents are being paused (their outboxes hold the rest).
    const workers = () => hub.sessions.pool?.stats() ?? [];
    gauge('lifetrace_worker_hosts', 'Hosts analyzed by each analysis worker thread.', ['worker'], (g) => {
      for (const w of workers()) g.set({ worker: String(w.index) }, w.hosts);
    });
    gauge('lifetrace_worker_backlog_bytes', 'Batch bytes sent to each analysis worker thread and not yet analyzed.', ['worker'], (g) => {
      for (const w of workers()) g.set({ worker: String(w.index) }, w.backlogBytes);
    });
    gauge('lifetrace_worker_lag_seconds', 'Age of the oldest batch each analysis worker thread has not yet analyzed.', ['worker'], (g) => {
      for (const w of workers()) g.set({ worker: String(w.index) }, w.lagSeconds);
    });
    gauge('lifetrace_worker_restarts', 'Times an analysis worker thread died (its hosts failed) and was replaced.', ['worker'], (g) => {
      for (const w of workers()) g.set({ worker: String(w.index) }, w.restarts);
    });
    gauge('lifetrace_host_failed', "1 when the host's analysis stopped (its worker thread died), else 0.", ['host'], (g) => {
      for (const v of views()) g.set({ host: v.host }, v.failed === null ? 0 : 1);
    });
    gauge('lifetrace_storage_ok', "1 while the server's disk takes its writes, 0 once one failed (e.g. the disk is full).", [], (g) => {
      g.set(hub.storage.view().ok ? 1 : 0);
    });
  }

  async text(): Promise<MetricsText> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
