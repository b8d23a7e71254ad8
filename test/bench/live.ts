/**
 * `npm run bench:live`: agents -> server -> browser feeds over loopback, with a generated capture.
 *
 * The server is a real `lifetrace serve` process; the agents are the real agent code (runAgent) fed
 * from the capture in memory, and the feed clients are WebSocket clients of /ws/feed, all in this
 * process. Prints one JSON line per run:
 *   {"bench":"live","run":"max",...}          one agent as fast as the server acknowledges: the
 *                                              sustained ingest rate (target >= 200,000 events/s)
 *   {"bench":"live","run":"max-4-agents",...}  four hosts at once
 *   {"bench":"live","run":"fixed-50k",...}     one agent paced at 50,000 events/s: p50/p99 latency
 *                                              (target p99 < 100 ms)
 *   {"bench":"live","run":"stalled-client",...} the max run again with one feed client that never
 *                                              reads; "vs_max" is its rate over the max run's (target ~1)
 * Fields: agents, clients, events (analyzed by the server), events_per_s, lost (events the server
 * did not analyze, plus kernel losses reported), p50_ms/p99_ms, server_rss_mb (peak RSS).
 *
 * Latency is the time from the agent producing a record to a feed client receiving the flag that
 * record raised (flags are what the feed carries per event; charts are 2 Hz aggregates). It covers
 * batching, the socket, decode, the reorder hold, the rules and the feed. The paced run streams 10 s;
 * flags raised by its first second (warm-up: the JIT compiling both sides) are not counted.
 */
import { readFileSync, rmSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { runAgent } from '../../server/agent/agent.js';
import type { LineSource, SourceInfo } from '../../server/agent/sources.js';
import { analyzeFile } from '../../server/analyze/pipeline.js';
import { parseHeader } from '../../server/capture/header.js';
import { printfNsecs } from '../../server/decode/envelope.js';
import type { FeedMessage, HostView } from '../../server/shared/wire.js';
import { startServe, TOKEN, until, type ServerProcess } from '../support/live.js';
import { generateCapture } from './generate.js';
import { peakRssMb, stretchToRate } from './streams.js';

const EVENTS = Number(process.env.LIFETRACE_BENCH_LIVE_EVENTS ?? 1_000_000);
const FIXED_RATE = 50_000;
const FIXED_SECONDS = 10;
const CLIENTS = 2;
/** Flags raised by the first second of the paced stream are not counted in its latency. */
const WARMUP_LINES = FIXED_RATE;

const print = (o: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
const progress = (s: string): void => void process.stderr.write(`bench:live: ${s}\n`);

interface Capture {
  info: SourceInfo;
  lines: string[];
  /** Kernel time (ns relative to the capture's time base, as the server computes it) -> first line index. */
  lineAt: Map<number, number>;
  events: number;
}

async function load(path: string): Promise<Capture> {
  const [head, ...lines] = readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0);
  const h = parseHeader(head!);
  if (!h.ok) throw new Error(h.error);
  const lineAt = new Map<number, number>();
  let base = -1;
  lines.forEach((l, i) => {
    const s = printfNsecs(l);
    if (s === undefined) return;
    const sec = Number(s.slice(0, -9));
    if (base < 0) base = sec;
    const rel = (sec - base) * 1e9 + Number(s.slice(-9));
    if (!lineAt.has(rel)) lineAt.set(rel, i);
  });
  const events = (await analyzeFile(path)).events;
  // Streamed as live, with the header a real agent sends (it declares 1 s deferred records).
  return { info: { header: { ...h.value, cpus: 4, deferred_ms: 1000 }, mode: 'live', rules: [] }, lines, lineAt, events };
}

/** Lines from memory: as fast as the agent's flow control allows, or at `rate` lines a second. */
function memorySource(c: Capture, rate: number | 'max', emitted?: Float64Array, idleAfterMs = 0): LineSource {
  let stopped = false;
  return {
    info: c.info,
    async run(onLine, wait) {
      const t0 = performance.now();
      let i = 0;
      while (i < c.lines.length && !stopped) {
        const upTo =
          rate === 'max'
            ? Math.min(c.lines.length, i + 4096)
            : Math.min(c.lines.length, Math.floor(((performance.now() - t0) / 1000) * rate));
        const now = performance.now();
        for (; i < upTo; i++) {
          if (emitted) emitted[i] = now;
          onLine(c.lines[i]!);
        }
        const w = wait();
        if (w) await w;
        else await new Promise((r) => setTimeout(r, rate === 'max' ? 0 : 2));
      }
      // A live stream does not end after its last record: stay open (idle) for a while.
      if (idleAfterMs > 0) await new Promise((r) => setTimeout(r, idleAfterMs));
      return 'end of capture';
    },
    stop() {
      stopped = true;
    },
  };
}

interface FeedStats {
  messages: number;
  latencies: number[];
  /** Stop measuring (the stream is about to end: flags raised at its end are not latencies). */
  stopMeasuring(): void;
  close(): void;
}

function feedClient(server: ServerProcess, c: Capture | undefined, host: string, emitted: Float64Array | undefined): Promise<FeedStats> {
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}ws/feed`, { origin: server.url.replace(/\/$/, '') });
  let measuring = true;
  const stats: FeedStats = {
    messages: 0,
    latencies: [],
    stopMeasuring: () => {
      measuring = false;
    },
    close: () => ws.close(),
  };
  ws.on('message', (data) => {
    stats.messages++;
    if (c === undefined || emitted === undefined || !measuring) return;
    const now = performance.now();
    const m = JSON.parse(String(data)) as FeedMessage;
    if (m.type !== 'flags') return;
    for (const f of m.flags) {
      if (f.host !== host) continue;
      const line = c.lineAt.get(Math.round(f.raised_s * 1e9));
      // The first second is warm-up (the JIT compiling the pipeline on both sides): not steady state.
      if (line !== undefined && line >= WARMUP_LINES && emitted[line]! > 0) {
        stats.latencies.push(now - emitted[line]!);
        if (process.env.LIFETRACE_BENCH_DEBUG && now - emitted[line]! > 150) {
          const toEpoch = Date.now() - performance.now();
          process.stderr.write(
            `slow ${Math.round(now - emitted[line]!)} ms: ${f.rule} count ${f.count} line ${line} server raised +${Math.round(f.wall - (emitted[line]! + toEpoch))} ms\n`,
          );
        }
      }
    }
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(stats));
    ws.once('error', reject);
  });
}

/** A browser that connects and then never reads: its socket's buffers fill up on the server. */
function stalledClient(server: ServerProcess): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const s = connect(server.port, '127.0.0.1', () => {
      s.write(
        `GET /ws/feed HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nOrigin: http://127.0.0.1:${server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
      s.once('data', () => {
        s.pause(); // from here on, nothing is read
        resolve(() => s.destroy());
      });
    });
    s.on('error', reject);
  });
}

const quantile = (xs: number[], q: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]! * 10) / 10;
};

async function ended(server: ServerProcess, host: string): Promise<HostView> {
  return until(
    async () => (await server.get<HostView[]>('/api/hosts')).find((h) => h.host === host && h.ended),
    120_000,
    `host ${host} to end`,
  );
}

async function maxRun(
  server: ServerProcess,
  c: Capture,
  name: string,
  agents: number,
  clients: number,
  stalled: boolean,
): Promise<Record<string, unknown>> {
  const feeds = await Promise.all(Array.from({ length: clients }, () => feedClient(server, undefined, '', undefined)));
  const stall = stalled ? await stalledClient(server) : undefined;
  const hosts = Array.from({ length: agents }, (_, i) => `${name}-${i}`);
  const t0 = performance.now();
  await Promise.all(hosts.map((host) => runAgent({ server: server.url, token: TOKEN, host, source: memorySource(c, 'max') })));
  const views = await Promise.all(hosts.map((h) => ended(server, h)));
  const seconds = (performance.now() - t0) / 1000;
  const analyzed = views.reduce((n, v) => n + v.events, 0);
  for (const f of feeds) f.close();
  stall?.();
  return {
    bench: 'live',
    run: name,
    agents,
    clients: clients + (stalled ? 1 : 0),
    events: analyzed,
    events_per_s: Math.round(analyzed / seconds),
    lost: agents * c.events - analyzed + views.reduce((n, v) => n + v.lost, 0),
    p50_ms: null,
    p99_ms: null,
    server_rss_mb: peakRssMb(server.proc.pid!),
    feed_messages: feeds.reduce((n, f) => n + f.messages, 0),
  };
}

async function fixedRun(server: ServerProcess, c: Capture): Promise<Record<string, unknown>> {
  const n = Math.min(c.lines.length, FIXED_RATE * FIXED_SECONDS);
  const part: Capture = { ...c, ...stretchToRate(c.lines.slice(0, n), FIXED_RATE) };
  const emitted = new Float64Array(n);
  const host = 'fixed-50k';
  const feeds = await Promise.all(Array.from({ length: CLIENTS }, () => feedClient(server, part, host, emitted)));
  const t0 = performance.now();
  const source = memorySource(part, FIXED_RATE, emitted, 1000);
  const run = source.run.bind(source);
  source.run = async (onLine, wait) => {
    const why = await run(onLine, wait);
    for (const f of feeds) f.stopMeasuring();
    return why;
  };
  await runAgent({ server: server.url, token: TOKEN, host, source, batchMs: 20 });
  const view = await ended(server, host);
  const seconds = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 300));
  for (const f of feeds) f.close();
  const latencies = feeds.flatMap((f) => f.latencies);
  return {
    bench: 'live',
    run: 'fixed-50k',
    agents: 1,
    clients: CLIENTS,
    events: view.events,
    events_per_s: Math.round(view.events / seconds),
    lost: 0,
    p50_ms: quantile(latencies, 0.5),
    p99_ms: quantile(latencies, 0.99),
    server_rss_mb: peakRssMb(server.proc.pid!),
    latency_samples: latencies.length,
  };
}

const dir = mkdtempSync(join(tmpdir(), 'lifetrace-bench-live-'));
try {
  const path = join(dir, 'live.ljsonl');
  progress(`generating ${EVENTS} events`);
  await generateCapture(path, EVENTS, 20261121);
  const capture = await load(path);
  let maxRate = NaN;
  const only = process.env.LIFETRACE_BENCH_LIVE_ONLY; // e.g. fixed-50k: one run, for investigating
  for (const [name, agents, stalled] of [
    ['max', 1, false],
    ['max-4-agents', 4, false],
    ['stalled-client', 1, true],
  ] as const) {
    if (only !== undefined && only !== name) continue;
    // A fresh server per run, so that each peak RSS is its own.
    const server = await startServe([], dir);
    progress(`${name}: ${agents} agent(s)`);
    try {
      const r = await maxRun(server, capture, name, agents, CLIENTS, stalled);
      if (name === 'max') maxRate = r.events_per_s as number;
      if (stalled) r.vs_max = Math.round(((r.events_per_s as number) / maxRate) * 100) / 100;
      print(r);
    } finally {
      await server.stop();
    }
  }
  if (only === undefined || only === 'fixed-50k') {
    const server = await startServe([], dir);
    progress('fixed-50k');
    try {
      print(await fixedRun(server, capture));
    } finally {
      await server.stop();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
