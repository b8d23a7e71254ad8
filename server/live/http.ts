/**
 * The HTTP side: the dashboard's files and the REST API (server/protocol/wire.ts has the payloads).
 * createApp() does not listen, so it can be mounted and tested on its own.
 */
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import { OBJECT_KINDS, type ObjectKind } from '../model/objects.js';
import { RULES } from '../rules/index.js';
import { THREADS } from '../rules/rule.js';
import { projectPath } from '../support/paths.js';
import { browserRefusal, presentedToken, TOKEN_COOKIE, tokenMatches, type AccessPolicy } from './auth.js';
import type { FlagQuery, Hub } from './hub.js';

export class BadRequest extends Error {}

const SEVERITIES = ['info', 'warning', 'error'] as const;

/** A query parameter as one string (repeated or nested parameters are refused). */
function param(req: Request, name: string): string | undefined {
  const v = (req.query as Record<string, unknown>)[name];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string' || v.length > 256) throw new BadRequest(`parameter ${name} must be one short string`);
  return v;
}

function oneOf<T extends string>(req: Request, name: string, values: readonly T[]): T | undefined {
  const v = param(req, name);
  if (v === undefined) return undefined;
  if (!(values as readonly string[]).includes(v)) throw new BadRequest(`parameter ${name} must be one of ${values.join(', ')}`);
  return v as T;
}

function integer(req: Request, name: string, min: number, max: number): number | undefined {
  const v = param(req, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new BadRequest(`parameter ${name} must be an integer from ${min} to ${max}`);
  return n;
}

/** Captures kept in DATA/captures (recorded there, or copied in by hand). */
async function listCaptures(dir: string): Promise<{ name: string; bytes: number; modified: string }[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: { name: string; bytes: number; modified: string }[] = [];
  for (const name of names.filter((n) => /^[\w.-]+\.ljsonl(\.gz)?$/.test(n)).sort()) {
    const st = await stat(join(dir, name)).catch(() => undefined);
    if (st?.isFile()) out.push({ name, bytes: st.size, modified: st.mtime.toISOString() });
  }
  return out;
}

export function createApp(hub: Hub, policy: AccessPolicy, capturesDir?: string): express.Express {
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
      return res.status(presentedToken(req) === undefined && policy.browsersNeedToken ? 401 : 403).json({ error: why });
    }
    next();
  });

  // The dashboard.
  const page = (file: string) => (_req: Request, res: Response) => res.sendFile(projectPath('web', file));
  app.get('/', page('index.html'));
  app.get('/style.css', page('style.css'));
  app.use('/js', express.static(projectPath('dist', 'web', 'src'), { index: false, fallthrough: false }));
  const chart = projectPath('node_modules', 'chart.js', 'dist', 'chart.umd.js');
  app.get('/vendor/chart.umd.js', (_req, res) => (existsSync(chart) ? res.sendFile(chart) : res.status(404).json({ error: 'chart.js is not installed (npm ci)' })));

  // The API.
  app.get('/api/hosts', (_req, res) => {
    res.json(hub.hosts());
  });
  app.get('/api/stats', (req, res) => {
    const host = param(req, 'host');
    if (host === undefined) throw new BadRequest('parameter host is required');
    const s = hub.stats(host);
    if (s === undefined) return res.status(404).json({ error: `no host ${host}` });
    res.json(s);
  });
  app.get('/api/flags', (req, res) => {
    const q: FlagQuery = {
      host: param(req, 'host'), rule: param(req, 'rule'), severity: oneOf(req, 'severity', SEVERITIES),
      pid: integer(req, 'pid', 0, 2 ** 31), comm: param(req, 'comm'), kind: oneOf(req, 'kind', OBJECT_KINDS),
      limit: integer(req, 'limit', 1, 10_000) ?? 500,
    };
    res.json(hub.flags(q));
  });
  app.get('/api/flags/:id', (req, res) => {
    const d = hub.flagDetail(String(req.params.id));
    if (d === undefined) return res.status(404).json({ error: `no flag ${req.params.id}` });
    res.json(d);
  });
  app.get('/api/objects', (req, res) => {
    const addr = param(req, 'addr');
    if (addr === undefined || !/^(0x)?[0-9a-fA-F]{1,16}$/.test(addr.trim())) throw new BadRequest('parameter addr must be a hex kernel address');
    const kind = oneOf(req, 'kind', OBJECT_KINDS);
    res.json(hub.objects(addr, param(req, 'host'), kind === undefined ? undefined : [kind as ObjectKind]));
  });
  app.get('/api/captures', async (_req, res) => {
    res.json(capturesDir === undefined ? [] : await listCaptures(capturesDir));
  });
  app.get('/api/server', (_req, res) => {
    res.json({ version: hub.options.version, hosts: hub.sessions.size, feeds: hub.feedCount, rejected: Object.fromEntries(hub.rejected) });
  });
  app.get('/api/rules', (_req, res) => {
    res.json(RULES.map((r) => ({ id: r.id, severity: r.severity, thread: `${r.thread}: ${THREADS[r.thread]}`, title: r.title, explanation: r.explanation })));
  });
  app.use('/api', (_req, res) => {
    res.status(404).json({ error: 'no such endpoint' });
  });

  // One error mapper: bad requests say why; anything else is our bug, logged, and a 500.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof BadRequest) {
      hub.reject('bad-request');
      return res.status(400).json({ error: err.message });
    }
    const status = (err as { status?: number }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) return res.status(status).json({ error: (err as Error).message });
    process.stderr.write(`lifetrace: ${(err as Error).stack ?? String(err)}\n`);
    res.status(500).json({ error: 'internal error' });
  });
  return app;
}
