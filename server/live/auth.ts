/**
 * Who may talk to the server. Agents always present the token. Browsers need it only when the
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

/** Constant-time comparison (of digests, so that the length leaks nothing either). */
export function tokenMatches(given: string | undefined, token: string): boolean {
  if (given === undefined) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

/** The token a request carries: Authorization: Bearer, the cookie, or ?token=. */
export function presentedToken(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7).trim();
  const cookie = req.headers.cookie;
  if (cookie !== undefined) {
    for (const part of cookie.split(';')) {
      const [k, ...v] = part.trim().split('=');
      if (k === TOKEN_COOKIE) return decodeURIComponent(v.join('='));
    }
  }
  const q = new URL(req.url ?? '/', 'http://x').searchParams.get('token');
  return q ?? undefined;
}

function hostName(hostHeader: string | undefined): string | undefined {
  if (hostHeader === undefined) return undefined;
  try {
    return new URL(`http://${hostHeader}`).hostname;
  } catch {
    return undefined;
  }
}

/** Why a browser's request is refused, or undefined when it may pass. */
export function browserRefusal(req: IncomingMessage, policy: AccessPolicy): string | undefined {
  if (policy.loopback) {
    const name = hostName(req.headers.host);
    if (name === undefined || !isLoopbackHost(name)) return 'this server answers only to loopback host names';
  }
  if (policy.browsersNeedToken && !tokenMatches(presentedToken(req), policy.token)) return 'a token is required (open the page as /?token=...)';
  return undefined;
}

/** Browser sockets: the Origin must be the page's own (scheme, host and port of this server). */
export function originRefusal(req: IncomingMessage): string | undefined {
  const origin = req.headers.origin;
  if (origin === undefined) return undefined; // not a browser (browsers always send Origin on WebSockets)
  if (origin !== `http://${req.headers.host ?? ''}` && origin !== `https://${req.headers.host ?? ''}`) return `origin ${origin} is not this server`;
  return undefined;
}
