/**
 * `lifetrace serve`: the dashboard, the REST API, the browser feed and the agent ingest, all on one
 * port. Loopback by default; anything else needs a token.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AnalysisOptions } from '../analyze/pipeline.js';
import { printfNsecsOf } from '../decode/envelope.js';
import { FleetMirror } from '../fleet-dashboard/fleet-mirror.js';
import type { NatsTarget } from '../fleet/connect.js';
import { StreamRanges } from '../fleet/stream-ranges.js';
import { FEED_PATH, INGEST_PATH } from '../shared/wire.js';
import { err, ok, type Result } from '../support/result.js';
import { agentRefusal, browserRefusal, isLoopbackHost, originRefusal, tokenConfigRefusal, type AccessPolicy } from './auth.js';
import { FEED_QUEUE_BYTES, handleBrowser, MAX_FEEDS } from './feed.js';
import { createApp } from './http.js';
import { Hub } from './hub.js';
import { handleAgent } from './ingest.js';

export interface ServeOptions {
  host: string;
  port: number;
  /** Required unless `host` is loopback; generated when absent. */
  token?: string | undefined;
  version: string;
  analysis?: Partial<AnalysisOptions>;
  /** Where captures are kept (listed by GET /api/captures). */
  capturesDir?: string | undefined;
  /** Where agents' streams are journaled, so that a restarted server resumes them. */
  journalDir?: string | undefined;
  /** Most bytes a second one agent may send (default: no limit). */
  agentBytesPerSecond?: number | undefined;
  /** Most bytes queued to one browser feed before it is dropped (default FEED_QUEUE_BYTES). */
  feedQueueBytes?: number | undefined;
  /** Worker threads analyzing agents' streams (default 0: all in the main thread). */
  workers?: number | undefined;
  /** Most heap of one worker thread, MB (a host past it fails that worker's hosts, never the server). */
  workerHeapMb?: number | undefined;
  /**
   * A dashboard of a fleet: its hosts are the ones the fleet's workers analyze (their results read
   * from this NATS server), and agents are not taken (they publish to the broker). Its stream is
   * read as captures too (GET /api/streams), on the same connection.
   */
  nats?: NatsTarget | undefined;
  /** The fleet's stream read as captures on a connection of the caller's (a program, a test); `nats` makes its own. */
  streams?: StreamRanges | undefined;
}

/** Hosts a fleet dashboard follows at most (a FleetSession holds summaries, not an analysis). */
const MAX_FLEET_HOSTS = 100_000;

export interface RunningServer {
  url: string;
  port: number;
  token: string;
  hub: Hub;
  http: Server;
  /** A fleet dashboard's link to the broker (`nats`), whose end ends the dashboard. */
  fleet: FleetMirror | undefined;
  close(): Promise<void>;
}

const MAX_AGENT_FRAME = 32 << 20;
const MAX_BROWSER_FRAME = 4 << 10;
const HEARTBEAT_MS = 15_000;

/** The server, listening; an error when it cannot start (no token off loopback, the port is taken). */
export async function startServer(o: ServeOptions): Promise<Result<RunningServer>> {
  const loopback = isLoopbackHost(o.host);
  if (!loopback && (o.token === undefined || o.token.length < 16)) {
    return err(`listening on ${o.host} (not loopback) needs --token (16 characters or more), or LIFETRACE_TOKEN`);
  }
  const token = o.token ?? randomBytes(24).toString('base64url');
  const bad = tokenConfigRefusal(token);
  if (bad !== undefined) return err(bad);
  const policy: AccessPolicy = { token, browsersNeedToken: !loopback, loopback };
  const feedQueueBytes = o.feedQueueBytes ?? FEED_QUEUE_BYTES;
  // A browser is skipped (and later resnapshotted) at a quarter of what drops it.
  const hub = new Hub({
    version: o.version,
    analysis: o.analysis ?? {},
    capturesDir: o.capturesDir,
    journalDir: o.journalDir,
    feedBufferBytes: feedQueueBytes / 4,
    workers: o.nats === undefined ? (o.workers ?? 0) : 0,
    workerHeapMb: o.workerHeapMb,
    ...(o.nats !== undefined ? { maxHosts: MAX_FLEET_HOSTS, journalDir: undefined } : {}),
    streams: o.streams,
  });
  let fleet: FleetMirror | undefined;
  if (o.nats !== undefined) {
    const log = (s: string): void => void process.stderr.write(`${s}\n`);
    const started = await FleetMirror.start({ target: o.nats, hosts: hub.sessions, clock: Date.now, log });
    if (!started.ok) {
      await hub.stop();
      return started;
    }
    fleet = started.value;
    hub.fleet = fleet;
    // The fleet's stream is a capture library too (docs/fleet.md "Captures from the stream").
    hub.desk.streams ??= new StreamRanges(fleet.nc, printfNsecsOf);
  }
  const app = createApp(hub, policy);
  const http = createServer(app);
  const agents = new WebSocketServer({ noServer: true, maxPayload: MAX_AGENT_FRAME, perMessageDeflate: false });
  const browsers = new WebSocketServer({ noServer: true, maxPayload: MAX_BROWSER_FRAME, perMessageDeflate: false });

  const refuse = (socket: Duplex, status: number, reason: string): void => {
    hub.reject(reason);
    const text = { 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 503: 'Service Unavailable' }[status] ?? 'Forbidden';
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  };
  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const path = pathOf(req.url);
    if (path === undefined) return refuse(socket, 400, 'upgrade-bad-url');
    if (path === INGEST_PATH) {
      if (fleet !== undefined) return refuse(socket, 404, 'ingest-on-fleet-dashboard'); // agents publish to the broker
      const no = agentRefusal(req, token);
      if (no !== undefined) return refuse(socket, no.status, no.reason);
      return agents.handleUpgrade(req, socket, head, (ws) => handleAgent(alive(ws), hub, o.agentBytesPerSecond ?? Infinity));
    }
    if (path === FEED_PATH) {
      const why = originRefusal(req) ?? browserRefusal(req, policy);
      if (why !== undefined)
        return refuse(socket, why.kind === 'token' ? 401 : 403, why.kind === 'origin' ? 'feed-bad-origin' : 'feed-refused');
      if (hub.feedCount >= MAX_FEEDS) return refuse(socket, 503, 'feed-too-many');
      return browsers.handleUpgrade(req, socket, head, (ws) => handleBrowser(alive(ws), hub, feedQueueBytes));
    }
    refuse(socket, 404, 'upgrade-unknown-path');
  };
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    // Whatever a client sends, an upgrade it cannot make is refused and counted, never a crash.
    try {
      upgrade(req, socket, head);
    } catch (e) {
      process.stderr.write(`lifetrace: upgrade: ${(e as Error).stack ?? String(e)}\n`);
      if (socket.writable) refuse(socket, 400, 'upgrade-error');
      else hub.reject('upgrade-error');
    }
  });

  // Heartbeat: a peer that stops answering pings is dropped (its session stays, ready to resume).
  const heartbeat = setInterval(() => {
    for (const wss of [agents, browsers]) {
      for (const ws of wss.clients) {
        const w = ws as WebSocket & { lifetraceAlive?: boolean };
        if (w.lifetraceAlive === false) {
          w.terminate();
          continue;
        }
        w.lifetraceAlive = false;
        w.ping();
      }
    }
  }, HEARTBEAT_MS);
  heartbeat.unref();

  const listening = await new Promise<Result<void>>((resolve) => {
    http.once('error', (e: NodeJS.ErrnoException) =>
      resolve(err(e.code === 'EADDRINUSE' ? `port ${o.port} on ${o.host} is in use: pick another with --port` : e.message)),
    );
    http.listen(o.port, o.host, () => resolve(ok(undefined)));
  });
  if (!listening.ok) {
    clearInterval(heartbeat);
    await fleet?.stop();
    await hub.stop();
    return listening;
  }
  hub.start();
  const port = (http.address() as AddressInfo).port;
  const shown = o.host.includes(':') ? `[${o.host}]` : o.host;
  let closed: Promise<void> | undefined;
  return ok({
    url: `http://${shown}:${port}/`,
    port,
    token,
    hub,
    http,
    fleet,
    close: () =>
      (closed ??= (async () => {
        clearInterval(heartbeat);
        await fleet?.stop();
        await hub.stop();
        for (const wss of [agents, browsers]) for (const ws of wss.clients) ws.terminate();
        const done = new Promise<void>((r) => http.close(() => r()));
        http.closeAllConnections();
        await done;
      })()),
  });
}

/** The path of a request's URL, or undefined when it is not one (`//[`): the client's text, never a throw. */
function pathOf(url: string | undefined): string | undefined {
  try {
    return new URL(url ?? '/', 'http://x').pathname;
  } catch {
    return undefined;
  }
}

function alive(ws: WebSocket): WebSocket {
  const w = ws as WebSocket & { lifetraceAlive?: boolean };
  w.lifetraceAlive = true;
  ws.on('pong', () => {
    w.lifetraceAlive = true;
  });
  return ws;
}
