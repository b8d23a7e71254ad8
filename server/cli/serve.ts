/** `lifetrace serve`: the dashboard, the API and the agent ingest on one port. */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { NatsTarget } from '../fleet/connect.js';
import { NATS_FLAG_OPTIONS, NATS_FLAGS_USAGE, natsTargetOf } from '../fleet/credentials.js';
import { isLoopbackHost } from '../live/auth.js';
import { startServer, type RunningServer } from '../live/server.js';
import { err, ok, type Result } from '../support/result.js';
import { parse, positiveNumber, type CommandResult, type Print } from './args.js';
import { LIFETRACE_VERSION } from '../support/version.js';

export const SERVE_USAGE = `usage: lifetrace serve [--host 127.0.0.1] [--port 7070] [--token T] [--data DIR] [--reorder-window-ms MS] [--agent-rate-mb MB] [--workers N]
       lifetrace serve --nats URL (NATS credentials) [--host ...] [--port ...] [--token T] [--data DIR]

Serves the dashboard, the REST API (/api/...), the browser feed and the agent ingest on one port.

  --host    address to listen on (default 127.0.0.1). Anything but loopback needs a token, and then
            browsers need it too: open the page once as /?token=T
  --token   the token agents (and, off loopback, browsers) present; default LIFETRACE_TOKEN, or the
            one kept in DATA/token (created on first use, mode 0600)
  --data    data directory (default LIFETRACE_DATA or ~/.local/share/lifetrace)
  --reorder-window-ms  how late a record may arrive and still be put in kernel-time order (default 2000)
  --agent-rate-mb      most MB a second one agent may send (default 64); past it the server stops
                       reading that agent's socket for a while (its outbox keeps the rest)
  --feed-queue-mb      most MB queued to one browser (default 16); a browser past a quarter of it is
                       skipped until it drains, one past all of it (it does not read) is dropped
  --workers            threads analyzing agents' streams, each host on one of them (default: one per
                       core, here ${availableParallelism()}); 0 analyzes every host in the main thread
  --worker-heap-mb     most heap of one worker thread (default 4096); a worker past it fails, and
                       only its hosts with it (shown failed, with the reason)

With --nats, the dashboard of a fleet (docs/fleet.md): its hosts are those the fleet's workers
(lifetrace worker --nats) analyze, read from the broker; it keeps no state of its own, so any number
of them show the same flags. Agents publish to the broker (lifetrace agent --nats), not to it.
${NATS_FLAGS_USAGE}`;

export function dataDir(v: string | undefined): string {
  return resolve(v ?? process.env.LIFETRACE_DATA ?? join(homedir(), '.local', 'share', 'lifetrace'));
}

/** The token kept in the data directory, created (0600) on first use. */
export function storedToken(data: string): Result<string> {
  const file = join(data, 'token');
  if (existsSync(file)) {
    const kept = readFileSync(file, 'utf8').trim();
    if (kept === '') return err(`${file} is empty: delete it to have a new token made, or write one in it`);
    return ok(kept);
  }
  mkdirSync(data, { recursive: true, mode: 0o700 });
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return ok(token);
}

export interface ServeArgs {
  host: string;
  port: number;
  token: string;
  data: string;
  reorderWindowMs: number;
  agentRateMb: number;
  feedQueueMb: number;
  workers: number;
  workerHeapMb: number;
  /** A fleet's dashboard: the broker its workers publish results to. */
  nats?: NatsTarget | undefined;
}

export function parseServeArgs(argv: string[], usage = SERVE_USAGE, extra: Parameters<typeof parse>[1] = {}, positionalsAllowed = false) {
  const parsed = parse(
    argv,
    {
      host: { type: 'string' },
      port: { type: 'string' },
      token: { type: 'string' },
      data: { type: 'string' },
      'reorder-window-ms': { type: 'string' },
      'agent-rate-mb': { type: 'string' },
      'feed-queue-mb': { type: 'string' },
      workers: { type: 'string' },
      'worker-heap-mb': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      ...extra,
    },
    usage,
  );
  if (!parsed.ok) return parsed;
  const { values, positionals } = parsed.value;
  if (positionals.length > 0 && !positionalsAllowed) return err(`unexpected ${JSON.stringify(positionals[0])}\n\n${usage}`);
  const port = positiveNumber('port', values.port as string | undefined, 7070);
  if (!port.ok) return port;
  if (!Number.isInteger(port.value) || port.value > 65535) return err(`--port must be an integer up to 65535, got ${String(values.port)}`);
  const data = dataDir(values.data as string | undefined);
  const explicit = (values.token as string | undefined) ?? process.env.LIFETRACE_TOKEN;
  const reorderWindowMs = positiveNumber('reorder-window-ms', values['reorder-window-ms'] as string | undefined, 2000);
  if (!reorderWindowMs.ok) return reorderWindowMs;
  const agentRateMb = positiveNumber('agent-rate-mb', values['agent-rate-mb'] as string | undefined, 64);
  if (!agentRateMb.ok) return agentRateMb;
  const feedQueueMb = positiveNumber('feed-queue-mb', values['feed-queue-mb'] as string | undefined, 16);
  if (!feedQueueMb.ok) return feedQueueMb;
  const workers = positiveNumber('workers', values.workers as string | undefined, availableParallelism());
  if (!workers.ok) return workers;
  if (!Number.isInteger(workers.value) || workers.value > 256)
    return err(`--workers must be an integer from 0 to 256, got ${String(values.workers)}`);
  const workerHeapMb = positiveNumber('worker-heap-mb', values['worker-heap-mb'] as string | undefined, 4096);
  if (!workerHeapMb.ok) return workerHeapMb;
  if (workerHeapMb.value < 8) return err(`--worker-heap-mb must be 8 or more, got ${workerHeapMb.value}`);
  const args: ServeArgs = {
    host: (values.host as string | undefined) ?? '127.0.0.1',
    port: port.value,
    data,
    token: explicit ?? '',
    reorderWindowMs: reorderWindowMs.value,
    agentRateMb: agentRateMb.value,
    feedQueueMb: feedQueueMb.value,
    workers: workers.value,
    workerHeapMb: workerHeapMb.value,
  };
  if (args.feedQueueMb < 1) return err(`--feed-queue-mb must be 1 or more, got ${args.feedQueueMb}`);
  return ok({ args, values: { ...values, positionals }, explicitToken: explicit !== undefined });
}

/** Where the server's token comes from, so that agents can be told how to present it. */
export type TokenSource = { kind: 'explicit' } | { kind: 'file'; path: string };

export async function launch(a: ServeArgs, explicitToken: boolean): Promise<Result<RunningServer & { tokenSource: TokenSource }>> {
  // Off loopback the token must be chosen on purpose; on loopback (any 127.x address) a kept one is fine.
  const kept = !explicitToken && isLoopbackHost(a.host.replace(/^\[(.*)\]$/, '$1'));
  const stored = kept ? storedToken(a.data) : undefined;
  if (stored !== undefined && !stored.ok) return stored;
  const started = await startServer({
    host: a.host,
    port: a.port,
    token: explicitToken ? a.token : stored?.value,
    version: LIFETRACE_VERSION,
    capturesDir: join(a.data, 'captures'),
    journalDir: join(a.data, 'journal'),
    agentBytesPerSecond: a.agentRateMb > 0 ? a.agentRateMb * 2 ** 20 : undefined,
    feedQueueBytes: a.feedQueueMb * 2 ** 20,
    workers: a.workers,
    workerHeapMb: a.workerHeapMb,
    nats: a.nats,
    // Live, a flag should show within a fraction of a second: start the reorder slack at 10 ms,
    // without the header's declared deferral (1 s for epoll_ctl and readdir records, printed at
    // their return); the slack grows by itself when deferred records come later than that.
    analysis: { reorder: { windowNs: a.reorderWindowMs * 1e6, maxHeld: 200_000, declaredDeferral: false } },
  });
  if (!started.ok) return started;
  const tokenSource: TokenSource = kept ? { kind: 'file', path: join(a.data, 'token') } : { kind: 'explicit' };
  return ok(Object.assign(started.value, { tokenSource }));
}

export async function serveCommand(argv: string[], print: Print): Promise<CommandResult> {
  const parsed = parseServeArgs(argv, SERVE_USAGE, NATS_FLAG_OPTIONS);
  if (!parsed.ok) return parsed;
  const { args, values, explicitToken } = parsed.value;
  if (values.help) {
    print(`${SERVE_USAGE}\n`);
    return ok(0);
  }
  const { positionals: _, ...flags } = values;
  if (Object.keys(NATS_FLAG_OPTIONS).some((k) => (flags as Record<string, unknown>)[k] !== undefined)) {
    const target = natsTargetOf(flags);
    if (!target.ok) return target;
    args.nats = target.value;
  }
  const launched = await launch(args, explicitToken);
  if (!launched.ok) return launched;
  const server = launched.value;
  print(`lifetrace: dashboard at ${server.url}\n`);
  const fleet = server.fleet;
  if (fleet !== undefined) {
    print(
      `lifetrace: the fleet's results from NATS ${args.nats!.url}; agents publish with: lifetrace agent --nats ${args.nats!.url} ...\n`,
    );
    // The broker connection ends for good only when the broker refuses it (its credentials changed):
    // a dashboard without its broker shows nothing true, so it says why and stops.
    const lost = await Promise.race([untilSignal().then(() => undefined), fleet.closed().then((e) => e?.message ?? 'closed')]);
    await server.close();
    return lost === undefined ? ok(0) : err(`the NATS connection ended: ${lost}`);
  }
  const t = server.tokenSource;
  const how = t.kind === 'file' ? `--token-file ${t.path}` : '--token (your token)';
  print(`lifetrace: agents connect with: lifetrace agent --server ${server.url} ${how}\n`);
  await untilSignal();
  await server.close();
  return ok(0);
}

/** Resolves on SIGINT or SIGTERM. */
export function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
}
