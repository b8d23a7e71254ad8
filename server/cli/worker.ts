/** `lifetrace worker --nats URL`: an analysis worker of a fleet on NATS JetStream (docs/fleet.md). */
import { NATS_FLAG_OPTIONS, NATS_FLAGS_USAGE, natsTargetOf } from '../fleet/credentials.js';
import { WorkerMetrics } from '../fleet-worker/metrics.js';
import { listenMetrics, metricsListenRefusal, type MetricsListenOptions } from '../fleet-worker/metrics-listener.js';
import { FleetWorker } from '../fleet-worker/worker.js';
import { err, ok, type Result } from '../support/result.js';
import { ANALYSIS_ARGS, analysisOptions } from './analysis-args.js';
import { parse, positiveNumber, type CommandResult, type Print } from './args.js';

const WORKER_USAGE = `usage: lifetrace worker --nats URL (--nats-user U --nats-pass P | --nats-token T | --nats-nkey F | --nats-creds F) [--nats-ca F]
                        [--id NAME] [--lease-ms MS] [--rules IDS] [--perm-wait-ms MS] [--reorder-window-ms MS]
                        [--metrics-port P [--metrics-host 127.0.0.1] [--token T]]

Analyzes a share of a fleet's hosts: reads each owned host's stream (lifetrace.batches.HOST) from
its start, then follows it, and publishes its flags (lifetrace.flags.HOST), loss windows
(lifetrace.losses.HOST) and stats (lifetrace.stats.HOST); answers queries on lifetrace.query.HOST.
Hosts are shared among the live workers; a new or dead worker's hosts move (docs/fleet.md).

${NATS_FLAGS_USAGE}
  --id          this worker's name among the workers (default: hostname, pid and a random part)
  --lease-ms    how long a dead worker's hosts wait before they move (default 10000; the first
                worker sets it for the fleet, in the lifetrace-fleet KV bucket)
  --rules, --perm-wait-ms, --reorder-window-ms   as lifetrace analyze
  --metrics-port  serve Prometheus' GET /metrics on this port (0: any free one, logged as
                "metrics at URL"); without it, no listener (docs/fleet.md#metrics)
  --metrics-host  address to listen on (default 127.0.0.1). Anything but loopback needs a token,
                sent by the scraper as Authorization: Bearer T
  --token       that token (16 characters or more); default LIFETRACE_TOKEN`;

export async function workerCommand(argv: string[], print: Print): Promise<CommandResult> {
  const parsed = parse(
    argv,
    {
      ...NATS_FLAG_OPTIONS,
      ...ANALYSIS_ARGS,
      id: { type: 'string' },
      'lease-ms': { type: 'string' },
      'metrics-port': { type: 'string' },
      'metrics-host': { type: 'string' },
      token: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    WORKER_USAGE,
  );
  if (!parsed.ok) return parsed;
  const { values, positionals } = parsed.value;
  if (values.help) {
    print(`${WORKER_USAGE}\n`);
    return ok(0);
  }
  if (positionals.length > 0) return err(`unexpected ${JSON.stringify(positionals[0])}\n\n${WORKER_USAGE}`);
  const target = natsTargetOf(values);
  if (!target.ok) return target;
  const leaseMs = positiveNumber('lease-ms', values['lease-ms'], 10_000);
  if (!leaseMs.ok) return leaseMs;
  // A lease of 0 would never expire (a KV TTL of 0): a dead worker's hosts would never move.
  if (leaseMs.value < 1000) return err('--lease-ms is 1000 or more (a heartbeat is a third of it)');
  if (values.id !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(values.id)) return err('--id is letters, digits, _ and - (up to 64)');
  const analysis = analysisOptions(values);
  if (!analysis.ok) return analysis;
  const listen = metricsOptions(values);
  if (!listen.ok) return listen;
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  const worker = new FleetWorker({
    target: target.value,
    leaseMs: leaseMs.value,
    analysis: analysis.value,
    log,
    ...(values.id !== undefined ? { id: values.id } : {}),
  });
  // Listening first: a port in use is said before the worker takes any host.
  const metrics = listen.value === undefined ? undefined : await listenMetrics(new WorkerMetrics(worker), listen.value);
  if (metrics !== undefined && !metrics.ok) return metrics;
  if (metrics !== undefined) log(`lifetrace: worker ${worker.id}: metrics at ${metrics.value.url}`);
  const started = await worker.start();
  if (!started.ok) {
    await metrics?.value.close();
    return started;
  }
  const stop = new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('interrupted'));
    process.once('SIGTERM', () => resolve('terminated'));
  });
  const why = await Promise.race([stop, worker.closed().then((e) => `the NATS connection closed${e ? `: ${e.message}` : ''}`)]);
  log(`lifetrace: worker ${worker.id}: ${why}; letting its hosts go`);
  await worker.stop();
  await metrics?.value.close();
  return ok(0);
}

/** The metrics listener's options, undefined without --metrics-port (no listener). */
function metricsOptions(values: {
  'metrics-port'?: string | undefined;
  'metrics-host'?: string | undefined;
  token?: string | undefined;
}): Result<MetricsListenOptions | undefined> {
  const host = values['metrics-host'];
  const token = values.token ?? process.env.LIFETRACE_TOKEN;
  if (values['metrics-port'] === undefined) {
    if (host !== undefined || values.token !== undefined) return err('--metrics-host and --token go with --metrics-port');
    return ok(undefined);
  }
  const port = Number(values['metrics-port']);
  if (!/^\d{1,5}$/.test(values['metrics-port']) || port > 65535)
    return err(`--metrics-port must be an integer from 0 to 65535, got ${JSON.stringify(values['metrics-port'])}`);
  const o: MetricsListenOptions = { host: host ?? '127.0.0.1', port, token };
  const refusal = metricsListenRefusal(o);
  return refusal === undefined ? ok(o) : err(refusal);
}
