/**
 * Who may talk to the server. Agents always present the token (a header or `?token=`, never the
 * browser's cookie) and, not being browsers, send no Origin. Browsers need it only when the
 * server listens beyond loopback; they bring it once as `/?token=` and get a cookie. Browser
 * sockets must come from the page itself (Origin), and on loopback the Host header must name
 * loopback (a DNS-rebinding page cannot reach the API through the victim's browser).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const TOKEN_COOKIE = 'lifetrace_token';

export interface AccessPolicy {
  /** The agent token; also the browser token when `browsersNeedToken`. */
  token: string;
  browsersNeedToken: boolean;
  /** Listening on loopback only: requests must name a loopback host. */
  loopback: boolean;
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Why a configured token cannot be used, or undefined (an empty token would match an empty `?token=`). */
export function tokenConfigRefusal(token: string): string | undefined {
  if (token.trim() === '') return 'the token is empty: give one (--token or LIFETRACE_TOKEN), or leave both unset to use the kept one';
  return undefined;
}

/** Constant-time comparison (of digests, so that the length leaks nothing either). An empty token never matches. */
export function tokenMatches(given: string | undefined, token: string): boolean {
  if (given === undefined || given === '' || token === '') return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

/** Most characters of a header value, cookie or query parameter read for a token. */
const MAX_TOKEN_TEXT = 1024;

/** A cookie's value, undefined when absent or not decodable (never throws: the header is the client's). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    const raw = part.slice(eq + 1).trim();
    if (raw.length > MAX_TOKEN_TEXT) return undefined;
    try {
      return decodeURIComponent(raw);
    } catch {
      return undefined; // e.g. "%zz": a malformed escape is no token
    }
  }
  return undefined;
}

/** The token an agent presents: Authorization: Bearer, or ?token= (never a cookie: that is the browser's). */
export function agentToken(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7).trim();
  return queryToken(req);
}

/** The token a browser's request carries: Authorization: Bearer, the cookie, or ?token=. */
export function presentedToken(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7).trim();
  return cookieValue(req.headers.cookie, TOKEN_COOKIE) ?? queryToken(req);
}

function queryToken(req: IncomingMessage): string | undefined {
  try {
    const q = new URL(req.url ?? '/', 'http://x').searchParams.get('token');
    return q === null || q.length > MAX_TOKEN_TEXT ? undefined : q;
  } catch {
    return undefined;
  }
}

function hostName(hostHeader: string | undefined): string | undefined {
  if (hostHeader === undefined) return undefined;
  try {
    return new URL(`http://${hostHeader}`).hostname;
  } catch {
    return undefined;
  }
}

/** Why a browser's request (or socket) is refused: what failed, and the words for the client. */
export interface Refusal {
  /** `host`: not a loopback host name on a loopback server; `token`: no token, or a wrong one; `origin`: a foreign page's socket. */
  kind: 'host' | 'token' | 'origin';
  message: string;
}

/** Why a browser's request is refused, or undefined when it may pass. */
export function browserRefusal(req: IncomingMessage, policy: AccessPolicy): Refusal | undefined {
  if (policy.loopback) {
    const name = hostName(req.headers.host);
    if (name === undefined || !isLoopbackHost(name)) return { kind: 'host', message: 'this server answers only to loopback host names' };
  }
  if (policy.browsersNeedToken && !tokenMatches(presentedToken(req), policy.token))
    return { kind: 'token', message: 'a token is required (open the page as /?token=...)' };
  return undefined;
}

/** The agents' socket: agents are not browsers, and a browser always sends Origin on a WebSocket. */
export function agentRefusal(req: IncomingMessage, token: string): { status: 401 | 403; reason: string } | undefined {
  if (req.headers.origin !== undefined) return { status: 403, reason: 'agent-origin-refused' };
  if (!tokenMatches(agentToken(req), token)) return { status: 401, reason: 'agent-bad-token' };
  return undefined;
}

/** Browser sockets: the Origin must be the page's own (scheme, host and port of this server). */
export function originRefusal(req: IncomingMessage): Refusal | undefined {
  const origin = req.headers.origin;
  if (origin === undefined) return undefined; // not a browser (browsers always send Origin on WebSockets)
  if (origin !== `http://${req.headers.host ?? ''}` && origin !== `https://${req.headers.host ?? ''}`)
    return { kind: 'origin', message: `origin ${origin} is not this server` };
  return undefined;
}
