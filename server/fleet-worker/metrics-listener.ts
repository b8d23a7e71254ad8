/**
 * The worker's metrics listener: `GET /metrics` and nothing else, under the REST API's rules
 * (server/live/auth.ts): loopback by default, where the `Host` header must name loopback (a
 * DNS-rebinding page cannot read it); anywhere else only with the token (16 characters or more),
 * which a scraper sends as `Authorization: Bearer`. Every refusal is counted by reason.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { browserRefusal, isLoopbackHost, tokenConfigRefusal, type AccessPolicy } from '../live/auth.js';
import { err, ok, type Result } from '../support/result.js';
import type { WorkerMetrics } from './metrics.js';

export interface MetricsListenOptions {
  host: string;
  /** 0: any free port (the listener's `url` says which). */
  port: number;
  /** Needed off loopback (16 characters or more); on loopback no scrape needs it, as the API. */
  token: string | undefined;
}

export interface MetricsListener {
  /** `http://HOST:PORT/metrics`. */
  url: string;
  close(): Promise<void>;
}

/** Why these options cannot be listened with (a token missing or too short off loopback), or undefined. */
export function metricsListenRefusal(o: MetricsListenOptions): string | undefined {
  if (!isLoopback(o.host) && (o.token === undefined || o.token.length < 16))
    return `--metrics-host ${o.host} (not loopback) needs --token (16 characters or more), or LIFETRACE_TOKEN`;
  return o.token === undefined ? undefined : tokenConfigRefusal(o.token);
}

export async function listenMetrics(metrics: WorkerMetrics, o: MetricsListenOptions): Promise<Result<MetricsListener>> {
  const refusal = metricsListenRefusal(o);
  if (refusal !== undefined) return err(refusal);
  const loopback = isLoopback(o.host);
  // No token on loopback: none is asked for, and an empty one would match nothing anyway.
  const policy: AccessPolicy = { token: o.token ?? '', browsersNeedToken: !loopback, loopback };
  const server = createServer((req, res) => {
    answer(req, res).catch((e: unknown) => {
      // Our bug, not the scraper's: say so rather than leave the request hanging.
      if (!res.headersSent) send(res, 500, `metrics failed: ${(e as Error).message}`);
      else res.destroy();
    });
  });

  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    const why = browserRefusal(req, policy);
    if (why !== undefined) {
      // A missing or wrong token is 401 (the scraper's credentials); a foreign Host on loopback is 403.
      const token = why.kind === 'token';
      metrics.refuse(token ? 'metrics-bad-token' : 'metrics-bad-host');
      return send(res, token ? 401 : 403, token ? 'a token is required: Authorization: Bearer TOKEN' : why.message, token);
    }
    if ((req.method !== 'GET' && req.method !== 'HEAD') || pathOf(req.url) !== '/metrics') {
      metrics.refuse('metrics-not-found');
      return send(res, 404, 'only GET /metrics is served here');
    }
    const m = await metrics.text();
    res.writeHead(200, { 'Content-Type': m.contentType });
    res.end(req.method === 'HEAD' ? undefined : m.body);
  }

  const listening = await new Promise<Result<void>>((resolve) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      resolve(
        err(
          e.code === 'EADDRINUSE'
            ? `--metrics-port ${o.port} on ${o.host} is in use: pick another`
            : `cannot listen for metrics on ${o.host}:${o.port}: ${e.message}`,
        ),
      ),
    );
    server.listen(o.port, o.host, () => resolve(ok(undefined)));
  });
  if (!listening.ok) return listening;
  const port = (server.address() as AddressInfo).port;
  const host = o.host.includes(':') && !o.host.startsWith('[') ? `[${o.host}]` : o.host;
  return ok({ url: `http://${host}:${port}/metrics`, close: () => closeServer(server) });
}

function isLoopback(host: string): boolean {
  return isLoopbackHost(host.replace(/^\[(.*)\]$/, '$1'));
}

function send(res: ServerResponse, status: number, message: string, challenge = false): void {
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    ...(challenge ? { 'WWW-Authenticate': 'Bearer realm="lifetrace worker metrics"' } : {}),
  });
  res.end(`${message}\n`);
}

/** The path of a request's URL, or undefined when it is not one: the client's text, never a throw. */
function pathOf(url: string | undefined): string | undefined {
  try {
    return new URL(url ?? '/', 'http://x').pathname;
  } catch {
    return undefined;
  }
}

function closeServer(server: Server): Promise<void> {
  const done = new Promise<void>((r) => server.close(() => r()));
  server.closeAllConnections();
  return done;
}
