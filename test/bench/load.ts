/**
 * `npm run bench:load`: ten agents at 20,000 events/s each for 60 s, over loopback, into one real
 * `lifetrace serve` process, with two browser feed clients.
 *
 * Prints, for the server analyzing on its main thread (`--workers 0`) and then on worker threads (its
 * default, one per core), one line each:
 * {"bench":"load","workers":W,"agents":10,"events":N,"lost":L,"dup":D,"p99_ms":Q,"server_rss_mb":M,...,"load":[A,B]}:
 *   N  events the server analyzed, over all hosts
 *   L  events the agents produced that the server did not analyze (plus kernel losses reported)
 *   D  events analyzed more than once (N beyond what was produced)
 *   Q  p99 latency, from an agent producing the record that raises a flag to a feed client receiving
 *      that flag (the first 5 s are warm-up and not counted)
 *   A, B the machine's 1-minute load average before and after the run (it is shared)
 * Targets: L = 0, D = 0, Q < 250 ms.
 *
 * The agents are the real agent code (runAgent), fed from a generated capture whose kernel times are
 * stretched to 20,000 events/s, so that kernel time passes as wall time does (as on a live host).
 * LIFETRACE_BENCH_LOAD_SECONDS, LIFETRACE_BENCH_LOAD_AGENTS and LIFETRACE_BENCH_LOAD_WORKERS (the
 * runs' --workers, comma-separated: default "0,default") change the run.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { runAgent } from '../../server/agent/agent.js';
import type { LineSource } from '../../server/agent/sources.js';
import { Analysis } from '../../server/analyze/pipeline.js';
import { parseHeader, serializeHeader, type CaptureHeader } from '../../server/capture/header.js';
import type { FeedMessage, HostView } from '../../server/shared/wire.js';
import { startServe, TOKEN, until, type ServerProcess } from '../support/live.js';
import { generateCapture } from './generate.js';
import { peakRssMb, stretchToRate } from './streams.js';

const AGENTS = Number(process.env.LIFETRACE_BENCH_LOAD_AGENTS ?? 10);
const SECONDS = Number(process.env.LIFETRACE_BENCH_LOAD_SECONDS ?? 60);
const RATE = 20_000;
const WARMUP_S = 5;

const progress = (s: string): void => void process.stderr.write(`bench:load: ${s}\n`);

interface Stream {
  header: CaptureHeader;
  lines: string[];
  /** Kernel time (ns relative to the time base) -> first line index. */
  lineAt: Map<number, number>;
  events: number;
}

/** The capture's first `n` lines, stretched to `rate` records a second. */
function stretch(path: string, n: number, rate: number): Stream {
  const [head, ...all] = readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0);
  const h = parseHeader(head!);
  if (!h.ok) throw new Error(h.error);
  const { lines: out, lineAt } = stretchToRate(all.slice(0, n), rate);
  const header = { ...h.value, cpus: 4, deferred_ms: 1000 };
  const a = new Analysis();
  a.push(`${serializeHeader(header)}\n${out.join('\n')}\n`);
  return { header, lines: out, lineAt, events: a.end().events };
}

function pacedSource(s: Stream, emitted: Float64Array): LineSource {
  let stopped = false;
  return {
    info: { header: s.header, mode: 'live', rules: [] },
    async run(onLine) {
      const t0 = performance.now();
      let i = 0;
      while (i < s.lines.length && !stopped) {
        const now = performance.now();
        const upTo = Math.min(s.lines.length, Math.floor(((now - t0) / 1000) * RATE));
        for (; i < upTo; i++) {
          emitted[i] = now;
          onLine(s.lines[i]!);
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      await new Promise((r) => setTimeout(r, 1000)); // a live stream stays open after its last record
      return 'end of stream';
    },
    stop() {
      stopped = true;
    },
  };
}

/** The server's worker threads in each run: "default" is serve's own default (one per core). */
const MODES = (process.env.LIFETRACE_BENCH_LOAD_WORKERS ?? '0,default').split(',');

const dir = mkdtempSync(join(tmpdir(), 'lifetrace-bench-load-'));
try {
  const n = RATE * SECONDS;
  const path = join(dir, 'load.ljsonl');
  progress(`generating ${n} events`);
  await generateCapture(path, n + 1000, 20261121);
  const stream = stretch(path, n, RATE);
  for (const mode of MODES) await runOnce(stream, mode);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/** One run against a fresh server with `--workers mode` (or its default); prints its line. */
async function runOnce(stream: Stream, mode: string): Promise<void> {
  const load0 = loadavg()[0]!;
  const server = await startServe(mode === 'default' ? [] : ['--workers', mode], mkdtempSync(join(dir, 'data-')));
  try {
    await measure(server, stream, mode, load0);
  } finally {
    await server.stop();
  }
}

async function measure(srv: ServerProcess, stream: Stream, mode: string, load0: number): Promise<void> {
  const emitted = Array.from({ length: AGENTS }, () => new Float64Array(stream.lines.length));
  const latencies: number[] = [];
  let measuring = true;
  const clients = await Promise.all(
    [0, 1].map(
      () =>
        new Promise<WebSocket>((resolve, reject) => {
          const ws = new WebSocket(`${srv.url.replace('http', 'ws')}ws/feed`, { origin: srv.url.replace(/\/$/, '') });
          ws.on('message', (data) => {
            if (!measuring) return;
            const now = performance.now();
            const m = JSON.parse(String(data)) as FeedMessage;
            if (m.type !== 'flags') return;
            for (const f of m.flags) {
              const agent = Number(/^load-(\d+)$/.exec(f.host)?.[1]);
              const line = stream.lineAt.get(Math.round(f.raised_s * 1e9));
              if (!Number.isInteger(agent) || line === undefined || line < WARMUP_S * RATE) continue;
              const at = emitted[agent]![line]!;
              if (at > 0) latencies.push(now - at);
            }
          });
          ws.once('open', () => resolve(ws));
          ws.once('error', reject);
        }),
    ),
  );

  progress(`--workers ${mode}: ${AGENTS} agents x ${RATE} events/s for ${SECONDS} s`);
  await Promise.all(
    emitted.map(async (e, i) => {
      const source = pacedSource(stream, e);
      const run = source.run.bind(source);
      source.run = async (onLine, wait) => {
        const why = await run(onLine, wait);
        measuring = false; // flags raised at the end of a stream are not latencies
        return why;
      };
      await runAgent({ server: srv.url, token: TOKEN, host: `load-${i}`, source, batchMs: 20 });
    }),
  );
  const hosts = await until(
    async () => {
      const hs = (await srv.get<HostView[]>('/api/hosts')).filter((h) => h.host.startsWith('load-'));
      return hs.length === AGENTS && hs.every((h) => h.ended) ? hs : undefined;
    },
    300_000,
    'every stream to end',
  );
  for (const c of clients) c.close();

  const produced = AGENTS * stream.events;
  const analyzed = hosts.reduce((x, h) => x + h.events, 0);
  latencies.sort((a, b) => a - b);
  const q = (p: number): number =>
    Math.round((latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN) * 10) / 10;
  process.stdout.write(
    `${JSON.stringify({
      bench: 'load',
      workers: mode === 'default' ? availableParallelism() : Number(mode),
      agents: AGENTS,
      events: analyzed,
      lost: Math.max(0, produced - analyzed) + hosts.reduce((x, h) => x + h.lost, 0),
      dup: Math.max(0, analyzed - produced),
      p99_ms: q(0.99),
      server_rss_mb: peakRssMb(srv.proc.pid!),
      p50_ms: q(0.5),
      latency_samples: latencies.length,
      seconds: SECONDS,
      // The machine is shared: its 1-minute load average before and after the run.
      load: [Math.round(load0 * 100) / 100, Math.round(loadavg()[0]! * 100) / 100],
    })}\n`,
  );
}
