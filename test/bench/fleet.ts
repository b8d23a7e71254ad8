/**
 * `npm run bench:fleet`: analysis workers consuming a backlog of many hosts from NATS JetStream.
 *
 * A real nats-server (JetStream, file storage) is started; real agents (`agent --replay --nats`)
 * publish H hosts' captures into the stream; then, for W = 1 and W = 2, W real `lifetrace worker`
 * processes (fresh ids, so each run replays every host from its start) analyze the whole backlog.
 * For each W it prints
 *   {"bench":"fleet","mode":"backlog","workers":W,"hosts":H,"events":N,"events_per_s":X,"lost":L,"dup":D,"p99_ms":P}
 *   N  events analyzed, over all hosts (from the workers' stats at each stream's end)
 *   X  N / seconds from the first host a worker claims to the last stream's end
 *   L  events of the captures not analyzed (plus batches missing), D  events analyzed beyond them
 *   P  p99 over batches of the time from a worker taking the batch's host (or JetStream storing
 *      the batch, if later) to the worker analyzing it; the largest of the hosts' p99s. For a
 *      backlog, how long the last batches wait: about the time to drain it
 * Then live: W workers follow LIFETRACE_BENCH_FLEET_LIVE_HOSTS hosts (default 4) that agents
 * publish meanwhile at LIFETRACE_BENCH_FLEET_LIVE_SPEED times their captures' pace (default 0.1,
 * the slowest an agent replays: each host about 33k events/s for 3 s), each W on a broker of its
 * own; there X is about the rate offered and P the lag behind the stream.
 * Each line carries "mode": "backlog" or "live".
 * LIFETRACE_BENCH_FLEET_HOSTS (default 16) and LIFETRACE_BENCH_FLEET_EVENTS (events per host,
 * default 400000: a backlog of 6.4M events, some 20 s for one worker; a smaller one is over in a few
 * seconds, most of them each worker's warm-up, which says little of its rate) change the run.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { execa, type ResultPromise } from 'execa';
import { Analysis } from '../../server/analyze/pipeline.js';
import type { LagView } from '../../server/fleet-worker/host-feed.js';
import type { StatsMessage } from '../../server/fleet/results.js';
import { BIN, until } from '../support/live.js';
import { connectAs, NatsServer, natsArgs, replayToNats } from '../support/nats.js';
import { generateCapture } from './generate.js';

const HOSTS = Number(process.env.LIFETRACE_BENCH_FLEET_HOSTS ?? 16);
const EVENTS = Number(process.env.LIFETRACE_BENCH_FLEET_EVENTS ?? 400_000);
/** Live: hosts published while the workers follow, at this factor of their captures' pace. */
const LIVE_HOSTS = Number(process.env.LIFETRACE_BENCH_FLEET_LIVE_HOSTS ?? 4);
const LIVE_SPEED = process.env.LIFETRACE_BENCH_FLEET_LIVE_SPEED ?? '0.1';
/** Distinct captures, shared round-robin by the hosts. */
const CAPTURES = 4;

const progress = (s: string): void => void process.stderr.write(`bench:fleet: ${s}\n`);

/** Real agents publish `count` hosts' captures: a few at a time at full speed, or all at once at `speed`. */
async function publish(nats: NatsServer, captures: string[], count: number, speed = 'max'): Promise<void> {
  const hosts = Array.from({ length: count }, (_, i) => i);
  const group = speed === 'max' ? 4 : count; // a few at a time at full speed: the machine has few cores
  for (let i = 0; i < hosts.length; i += group) {
    await Promise.all(
      hosts.slice(i, i + group).map(async (h) => {
        const r = await replayToNats(nats, captures[h % CAPTURES]!, `host-${h}`, speed);
        if (r.exitCode !== 0) throw new Error(`agent host-${h}: ${r.all}`);
      }),
    );
  }
}

/** User and system CPU seconds a process has used (Linux /proc; 0 when unknown). */
function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/**
 * W workers analyze `hosts` hosts: a backlog already in the stream, or (`agents`, started once the
 * workers are up) hosts published while they follow.
 */
async function run(
  nats: NatsServer,
  nc: NatsConnection,
  w: number,
  expected: number[],
  hosts: number,
  agents?: () => Promise<void>,
): Promise<void> {
  const ended = new Map<string, StatsMessage & { lag_ms: LagView }>();
  const sub = nc.subscribe('lifetrace.stats.>', {
    callback: (_e, m) => {
      const s = m.json<StatsMessage & { lag_ms: LagView }>();
      if (s.host.ended) ended.set(s.host.host, s);
    },
  });
  // From the first host a worker claims (its start and first heartbeat are not analysis).
  let t0 = 0;
  const workers: ResultPromise[] = Array.from({ length: w }, (_, i) => {
    const p = execa(process.execPath, [BIN, 'worker', ...natsArgs(nats, 'worker'), '--id', `bench-${w}-${i}`, '--lease-ms', '3000'], {
      reject: false,
      all: true,
    });
    p.all?.on('data', (d: Buffer) => {
      if (t0 === 0 && d.toString().includes(': owns ')) t0 = performance.now();
    });
    return p;
  });
  let published: Promise<void> | undefined;
  if (agents !== undefined) {
    await until(() => workers.every((p) => p.all !== undefined) || undefined, 10_000, 'the workers');
    await new Promise((r) => setTimeout(r, 2000)); // their first heartbeat
    published = agents();
  }
  await until(() => (ended.size === hosts ? true : undefined), 30 * 60_000, 'every host analyzed');
  await published;
  const seconds = (performance.now() - t0) / 1000;
  sub.unsubscribe();
  // Whether the workers (and the broker) had the CPU: seconds of it each used, against the run's.
  const cpu = [...workers.map((p) => p.pid), nats.proc?.pid].map((pid) => cpuSeconds(pid).toFixed(1));
  progress(
    `${seconds.toFixed(1)} s; CPU seconds of the workers ${cpu.slice(0, -1).join(', ')}, of nats-server ${cpu.at(-1)} (since it started)`,
  );
  for (const p of workers) p.kill('SIGTERM');
  const logs = await Promise.all(workers);
  let events = 0;
  let lost = 0;
  let dup = 0;
  let p99 = 0;
  for (let h = 0; h < hosts; h++) {
    const s = ended.get(`host-${h}`)!;
    const want = expected[h % CAPTURES]!;
    events += s.host.events;
    lost += Math.max(0, want - s.host.events) + s.host.missingBatches;
    dup += Math.max(0, s.host.events - want);
    p99 = Math.max(p99, s.lag_ms.p99);
  }
  // Hosts let go before the end (a rebalance: replayed again by their new owner).
  const moved = logs.reduce(
    (n, l) =>
      n +
      (String(l.all)
        .split('terminated')[0]!
        .match(/let host-\d+ go/g)?.length ?? 0),
    0,
  );
  if (process.env.LIFETRACE_BENCH_FLEET_LOGS) for (const l of logs) progress(String(l.all));
  if (moved > 0) {
    progress(`${moved} hosts moved between workers during the run`);
    for (const l of logs)
      for (const line of String(l.all).split('\n')) if (/lost the lease|heartbeat took|trying again/.test(line)) progress(line);
  }
  console.log(
    JSON.stringify({
      bench: 'fleet',
      mode: agents === undefined ? 'backlog' : 'live',
      workers: w,
      hosts,
      events,
      events_per_s: Math.round(events / seconds),
      lost,
      dup,
      p99_ms: Math.round(p99),
    }),
  );
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lifetrace-bench-fleet-'));
  const nats = new NatsServer();
  try {
    const captures: string[] = [];
    const expected: number[] = [];
    for (let c = 0; c < CAPTURES; c++) {
      const path = join(dir, `c${c}.ljsonl`);
      await generateCapture(path, EVENTS, 100 + c);
      captures.push(path);
      const a = new Analysis();
      a.pushContained(readFileSync(path));
      expected.push(a.end().events);
    }
    await nats.start();
    progress(`publishing ${HOSTS} hosts of ${EVENTS} events`);
    await publish(nats, captures, HOSTS);
    const nc = await connectAs(nats, 'worker');
    for (const w of [1, 2]) {
      progress(`${w} worker(s) analyzing the backlog`);
      await run(nats, nc, w, expected, HOSTS);
    }
    await nc.close();
    await nats.kill();
    // Live: a broker of its own each time (no backlog), agents publishing while the workers follow.
    for (const w of [1, 2]) {
      const live = new NatsServer();
      await live.start();
      const lc = await connectAs(live, 'worker');
      progress(`${w} worker(s) following ${LIVE_HOSTS} hosts published at ${LIVE_SPEED} times their pace`);
      await run(live, lc, w, expected, LIVE_HOSTS, () => publish(live, captures, LIVE_HOSTS, LIVE_SPEED));
      await lc.close();
      await live.kill();
      rmSync(live.store, { recursive: true, force: true });
    }
  } finally {
    await nats.kill();
    rmSync(dir, { recursive: true, force: true });
    rmSync(nats.store, { recursive: true, force: true });
  }
}

await main();
