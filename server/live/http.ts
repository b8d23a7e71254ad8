/**
 * The HTTP side: the dashboard's files and the REST API (server/shared/wire.ts has the payloads).
 * createApp() does not listen, so it can be mounted and tested on its own.
 */
import { existsSync } from 'node:fs';
import { Readable } from 'node:stream';
import express, { type NextFunction, type Request, type Response } from 'express';
import { OBJECT_KINDS, type ObjectKind } from '../model/objects.js';
import { RULES } from '../rules/index.js';
import { mailingListLine } from '../rules/rule.js';
import { projectPath } from '../support/paths.js';
import { browserRefusal, presentedToken, TOKEN_COOKIE, tokenMatches, type AccessPolicy } from './auth.js';
import { ServerMetrics } from './metrics.js';
import type { FlagQuery, Hub } from './hub.js';
import { badRequest, HttpError } from './http-error.js';
import type { FlagCursor } from '../shared/flag-query.js';
import { SEVERITIES } from '../shared/severity.js';
import type { RunRange } from '../fleet/stream-ranges.js';
import type {
  CaptureInfo,
  HostStats,
  RecordAnswer,
  ReplayCommand,
  ReplayStarted,
  RuleView,
  ServerView,
  StopAnswer,
  StreamRun,
} from '../shared/wire.js';

/** Most flags in one page of GET /api/flags (the rest: follow its Link rel="next"). */
export const MAX_FLAG_PAGE = 10_000;

/** Uploads are streamed to disk; this bounds one. */
const MAX_UPLOAD_BYTES = 4 * 1024 ** 3;

/** A query parameter as one string (repeated or nested parameters are refused). */
function param(req: Request, name: string): string | undefined {
  const v = (req.query as Record<string, unknown>)[name];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string' || v.length > 256) throw badRequest(`parameter ${name} must be one short string`);
  return v;
}

function oneOf<T extends string>(req: Request, name: string, values: readonly T[]): T | undefined {
  const v = param(req, name);
  if (v === undefined) return undefined;
  if (!(values as readonly string[]).includes(v)) throw badRequest(`parameter ${name} must be one of ${values.join(', ')}`);
  return v as T;
}

function integer(req: Request, name: string, min: number, max: number): number | undefined {
  const v = param(req, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw badRequest(`parameter ${name} must be an integer from ${min} to ${max}`);
  return n;
}

/** A number parameter (seconds of kernel time), or undefined when absent. */
function numberParam(req: Request, name: string): number | undefined {
  const v = param(req, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw badRequest(`parameter ${name} must be a number`);
  return n;
}

/** A range of a stream run from the query (GET .../capture) or a body (POST .../save); stream-ranges.ts checks it further. */
function runRange(get: (name: keyof RunRange) => unknown): RunRange {
  const range: RunRange = {};
  for (const k of ['from_s', 'to_s', 'from_seq', 'to_seq'] as const) {
    const v = get(k);
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw badRequest(`${k} must be a number`);
    range[k] = v;
  }
  return range;
}

/** A page cursor (GET /api/flags' `after`): opaque to clients, the sort key of a page's last flag. */
export function encodeCursor(c: FlagCursor): string {
  return Buffer.from(JSON.stringify([c.wall, c.time_s, c.id])).toString('base64url');
}

function cursor(req: Request, name: string): FlagCursor | undefined {
  const v = param(req, name);
  if (v === undefined) return undefined;
  let k: unknown;
  try {
    k = JSON.parse(Buffer.from(v, 'base64url').toString('utf8'));
  } catch {
    k = undefined;
  }
  if (!Array.isArray(k) || k.length !== 3 || typeof k[0] !== 'number' || typeof k[1] !== 'number' || typeof k[2] !== 'string') {
    throw badRequest(`parameter ${name} must be a cursor from a previous page`);
  }
  return { wall: k[0] as number, time_s: k[1] as number, id: k[2] as string };
}

function object(v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw badRequest('the body must be a JSON object');
  return v as Record<string, unknown>;
}

function optionalString(o: Record<string, unknown>, k: string): string | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > 256) throw badRequest(`${k} must be a short string`);
  return v;
}

function speedOf(v: unknown): number | 'max' {
  if (v === 'max') return 'max';
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0.1 || v > 100) throw badRequest('speed is a number from 0.1 to 100, or "max"');
  return v;
}

/** An untrusted replay command, checked field by field. */
function replayCommand(body: unknown): ReplayCommand {
  const o = object(body);
  switch (o.action) {
    case 'play':
    case 'pause':
    case 'next-flag':
    case 'stop':
      return { action: o.action };
    case 'speed':
      return { action: 'speed', speed: speedOf(o.speed) };
    case 'seek':
      if (typeof o.to_s !== 'number' || !Number.isFinite(o.to_s)) throw badRequest('seek needs to_s, a number of seconds');
      return { action: 'seek', to_s: o.to_s };
    default:
      throw badRequest('action is one of play, pause, speed, seek, next-flag, stop');
  }
}

export function createApp(hub: Hub, policy: AccessPolicy): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');

  app.use((req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    // A browser bringing the token in the address gets it as a cookie, and the address without it.
    if (req.method === 'GET' && req.path === '/' && typeof req.query.token === 'string' && tokenMatches(req.query.token, policy.token)) {
      res.cookie(TOKEN_COOKIE, req.query.token, { httpOnly: true, sameSite: 'strict', path: '/' });
      return res.redirect(303, '/');
    }
    const why = browserRefusal(req, policy);
    if (why !== undefined) {
      hub.reject('http-refused');
      return res.status(why.kind === 'token' && presentedToken(req) === undefined ? 401 : 403).json({ error: why.message });
    }
    // A request that changes something must not come from another origin, and a POST must be JSON:
    // a foreign page cannot send that (nor PUT or DELETE) without a CORS preflight, which this
    // server never answers.
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const origin = req.headers.origin;
      if (origin !== undefined && origin !== `http://${req.headers.host ?? ''}` && origin !== `https://${req.headers.host ?? ''}`) {
        hub.reject('http-cross-origin');
        return res.status(403).json({ error: `origin ${origin} is not this server` });
      }
      const type = req.headers['content-type'] ?? '';
      if (req.method === 'POST' && !type.startsWith('application/json')) {
        hub.reject('http-bad-content-type');
        return res.status(415).json({ error: 'send JSON (Content-Type: application/json)' });
      }
    }
    next();
  });
  const json = express.json({ limit: '16kb' });

  // The dashboard.
  const page = (file: string) => (_req: Request, res: Response) => res.sendFile(projectPath('web', file));
  app.get('/', page('index.html'));
  app.get('/style.css', page('style.css'));
  app.use('/js', express.static(projectPath('dist', 'web', 'src'), { index: false, fallthrough: false }));
  // What the dashboard shares with the server (server/shared/, compiled for both): where /js/*.js's
  // imports of '../../server/shared/*.js' land. Only that folder of dist/server is served.
  app.use('/server/shared', express.static(projectPath('dist', 'server', 'shared'), { index: false, fallthrough: false }));
  const chart = projectPath('node_modules', 'chart.js', 'dist', 'chart.umd.js');
  app.get('/vendor/chart.umd.js', (_req, res) =>
    existsSync(chart) ? res.sendFile(chart) : res.status(404).json({ error: 'chart.js is not installed (npm ci)' }),
  );

  // The API.
  app.get('/api/hosts', (_req, res) => {
    res.json(hub.hosts());
  });
  app.get('/api/stats', (req, res) => {
    const host = param(req, 'host');
    if (host === undefined) throw badRequest('parameter host is required');
    const s = hub.stats(host);
    if (s === undefined) return res.status(404).json({ error: `no host ${host}` });
    res.json(s satisfies HostStats);
  });
  app.get('/api/flags', (req, res) => {
    const q: FlagQuery = {
      host: param(req, 'host'),
      rule: param(req, 'rule'),
      severity: oneOf(req, 'severity', SEVERITIES),
      pid: integer(req, 'pid', 0, 2 ** 31),
      comm: param(req, 'comm'),
      kind: oneOf(req, 'kind', OBJECT_KINDS),
      limit: integer(req, 'limit', 1, MAX_FLAG_PAGE) ?? 500,
      after: cursor(req, 'after'),
    };
    const page = hub.flagPage(q);
    // The body stays the list; the next page is a link (RFC 8288) with the same filter.
    if (page.next !== undefined) {
      const next = new URL(req.originalUrl, 'http://x').searchParams;
      next.set('after', encodeCursor(page.next));
      res.setHeader('Link', `</api/flags?${next.toString()}>; rel="next"`);
    }
    res.json(page.flags);
  });
  app.get('/api/flags/:id', async (req, res) => {
    const d = await hub.flagDetail(String(req.params.id));
    if (d === undefined) return res.status(404).json({ error: `no flag ${req.params.id}` });
    res.json(d);
  });
  app.get('/api/objects', async (req, res) => {
    const addr = param(req, 'addr');
    if (addr === undefined || !/^(0x)?[0-9a-fA-F]{1,16}$/.test(addr.trim()))
      throw badRequest('parameter addr must be a hex kernel address');
    const kind = oneOf(req, 'kind', OBJECT_KINDS);
    res.json(await hub.objects(addr, param(req, 'host'), kind === undefined ? undefined : [kind as ObjectKind]));
  });
  app.get('/api/captures', async (_req, res) => {
    res.json(hub.library === undefined ? [] : await hub.library.list());
  });
  app.get('/api/captures/:name', async (req, res) => {
    const lib = hub.library;
    if (lib === undefined) return res.status(404).json({ error: 'no capture folder' });
    const file = await lib.read(req.params.name);
    if (file === undefined) return res.status(404).json({ error: `no capture ${req.params.name}` });
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Content-Disposition', `attachment; filename="${req.params.name}"`);
    res.on('close', () => file.destroy()); // a client gone early: the file is closed all the same
    file.on('error', () => res.destroy()).pipe(res);
  });
  app.delete('/api/captures/:name', async (req, res) => {
    if (hub.library === undefined) return res.status(404).json({ error: 'no capture folder' });
    if (!(await hub.desk.removeCapture(req.params.name))) return res.status(404).json({ error: `no capture ${req.params.name}` });
    res.status(204).end();
  });
  app.put('/api/captures/:name', async (req, res) => {
    if (hub.library === undefined) return res.status(404).json({ error: 'no capture folder' });
    if (req.headers['content-type'] !== 'application/octet-stream') throw badRequest('upload the capture as application/octet-stream');
    res.setHeader('Connection', 'close'); // a refused upload's body is not read to its end: its connection cannot carry another request
    res.status(201).json(await hub.library.store(req.params.name, req, MAX_UPLOAD_BYTES));
  });
  app.post('/api/captures/record', json, async (req, res) => {
    const body = object(req.body);
    res.json({ recording: await hub.desk.record(optionalString(body, 'host'), optionalString(body, 'name')) } satisfies RecordAnswer);
  });
  app.post('/api/captures/stop', json, async (req, res) => {
    res.json({ stopped: await hub.desk.stopRecording(optionalString(object(req.body), 'host')) } satisfies StopAnswer);
  });
  // The fleet's stream as captures (a server with a NATS connection; docs/fleet.md "Captures from the stream").
  app.get('/api/streams', async (_req, res) => {
    res.json((await hub.desk.streamRuns()) satisfies StreamRun[]);
  });
  app.get('/api/streams/:host/:run/capture', async (req, res) => {
    const { host, run } = req.params;
    const read = await hub.desk.streamRange(
      host,
      run,
      runRange((k) => numberParam(req, k)),
    );
    const file = `${`${host}-${run}`.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 120)}.ljsonl`;
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Content-Disposition', `attachment; filename="${file}"`);
    const body = Readable.from(read.bytes, { objectMode: false });
    res.on('close', () => body.destroy()); // a client gone early: the stream's consumer goes too
    // A failure once the download has begun can only cut it: the client sees a capture without its end.
    body.on('error', () => res.destroy()).pipe(res);
  });
  app.post('/api/streams/:host/:run/save', json, async (req, res) => {
    const body = object(req.body);
    const name = optionalString(body, 'name');
    if (name === undefined) throw badRequest('name is required');
    const saved = await hub.desk.saveStreamRange(
      req.params.host,
      req.params.run,
      name,
      runRange((k) => body[k]),
    );
    res.status(201).json(saved satisfies CaptureInfo);
  });
  app.post('/api/replay', json, async (req, res) => {
    const body = object(req.body);
    const name = optionalString(body, 'capture');
    if (name === undefined) throw badRequest('capture is required');
    res.json({ host: await hub.desk.replay(name, speedOf(body.speed ?? 1)) } satisfies ReplayStarted);
  });
  app.post('/api/replay/:host', json, async (req, res) => {
    res.json(await hub.desk.replayCommand(req.params.host, replayCommand(req.body)));
  });
  app.get('/api/server', (_req, res) => {
    res.json({
      version: hub.options.version,
      hosts: hub.sessions.size,
      feeds: hub.feedCount,
      rejected: Object.fromEntries(hub.rejected),
      storage: hub.storage.view(),
      fleet: hub.fleet?.view() ?? null,
    } satisfies ServerView);
  });
  app.get('/api/rules', (_req, res) => {
    res.json(
      RULES.map((r) => ({
        id: r.id,
        severity: r.severity,
        thread: mailingListLine(r.mailingList),
        title: r.title,
        explanation: r.explanation,
        fix: r.fix ?? null,
      })) satisfies RuleView[],
    );
  });
  // Prometheus' scrape, under the same token rules as the API (a scraper sends Authorization: Bearer).
  const metrics = new ServerMetrics(hub);
  app.get('/metrics', async (_req, res) => {
    const m = await metrics.text();
    res.type(m.contentType).send(m.body);
  });
  app.use('/api', (_req, res) => {
    res.status(404).json({ error: 'no such endpoint' });
  });

  // The one error mapper (Hono's app.onError): a refusal says why with its status, counted; a client
  // error of express itself (a body too large or not JSON) says why; anything else is our bug, logged, and a 500.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof HttpError) {
      hub.reject(err.reason);
      return res.status(err.status).json({ error: err.message });
    }
    const status = (err as { status?: number }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) return res.status(status).json({ error: (err as Error).message });
    process.stderr.write(`lifetrace: ${(err as Error).stack ?? String(err)}\n`);
    res.status(500).json({ error: 'internal error' });
  });
  return app;
}
