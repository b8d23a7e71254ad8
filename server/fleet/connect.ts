/**
 * How lifetrace reaches a NATS server: the URL and the credentials, read once from the command line
 * (or a program) and turned into the client's connection options. There is no anonymous default:
 * the server decides who may publish (docs/fleet.md has its configuration).
 */
import { credsAuthenticator, errors, nkeyAuthenticator, type ConnectionOptions } from '@nats-io/transport-node';
import { err, ok, type Result } from '../support/result.js';

export type NatsCredentials =
  | { kind: 'user'; user: string; pass: string }
  | { kind: 'token'; token: string }
  /** An nkey seed (the `SU...` line of an nkey file). */
  | { kind: 'nkey'; seed: string }
  /** A decentralized-auth credentials file's text (JWT and seed). */
  | { kind: 'creds'; creds: string };

export interface NatsTarget {
  /** `nats://HOST:PORT` or `tls://HOST:PORT` (TLS required). */
  url: string;
  credentials: NatsCredentials;
  /** PEM of the certificate authority the server's certificate is checked against (implies TLS). */
  ca?: string | undefined;
}

/** The server's `host:port` and whether TLS is required, or why the URL is not a NATS URL. */
export function parseNatsUrl(url: string): Result<{ hostPort: string; tls: boolean }> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return err(`a NATS URL looks like nats://127.0.0.1:4222 or tls://nats.example:4222, got ${JSON.stringify(url)}`);
  }
  if (u.protocol !== 'nats:' && u.protocol !== 'tls:') return err(`a NATS URL is nats:// or tls://, got ${u.protocol}//`);
  if (u.username || u.password)
    return err('give NATS credentials with --nats-user/--nats-pass, --nats-token, --nats-nkey or --nats-creds, not in the URL');
  if (u.hostname === '' || (u.pathname !== '' && u.pathname !== '/'))
    return err(`a NATS URL is a host and a port, got ${JSON.stringify(url)}`);
  return ok({ hostPort: `${u.hostname}:${u.port || '4222'}`, tls: u.protocol === 'tls:' });
}

/** Who a lifetrace process is to the broker: each has a user of its own in the fleet's configuration. */
export type NatsRole = 'agent' | 'worker' | 'dashboard';

/**
 * Where the broker sends a role's replies (request answers, consumer deliveries): a prefix of its
 * own, so that the configuration lets each user subscribe to its own replies only (nats-server.conf),
 * never to `_INBOX.>`, where every client's replies would be.
 */
export const inboxPrefix = (role: NatsRole): string => `_INBOX_${role}`;

/** The client's options for `target` (its URL already checked by parseNatsUrl), as `role`. */
export function connectionOptions(target: NatsTarget, name: string, role: NatsRole): ConnectionOptions {
  const url = parseNatsUrl(target.url);
  if (!url.ok) throw new Error(url.error);
  const c = target.credentials;
  const enc = new TextEncoder();
  return {
    servers: url.value.hostPort,
    name,
    inboxPrefix: inboxPrefix(role),
    ...(c.kind === 'user' ? { user: c.user, pass: c.pass } : {}),
    ...(c.kind === 'token' ? { token: c.token } : {}),
    ...(c.kind === 'nkey' ? { authenticator: nkeyAuthenticator(enc.encode(c.seed)) } : {}),
    ...(c.kind === 'creds' ? { authenticator: credsAuthenticator(enc.encode(c.creds)) } : {}),
    ...(url.value.tls || target.ca !== undefined ? { tls: target.ca !== undefined ? { ca: target.ca } : {} } : {}),
    // The link resends what was not acknowledged itself: the client just keeps trying to get back.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 100,
    waitOnFirstConnect: false,
  };
}

/** Why the broker would not have a worker or a dashboard (its first connection, or its JetStream set-up), as the command line says it. */
export function connectRefusal(e: unknown, role: NatsRole): string {
  if (e instanceof errors.AuthorizationError || e instanceof errors.UserAuthenticationExpiredError)
    return `the NATS server refused the ${role}'s credentials (${e.message}): check --nats-user/--nats-pass, --nats-token, --nats-nkey or --nats-creds`;
  // A JetStream request refused by permissions is a plain error that says so.
  if (e instanceof errors.PermissionViolationError || /Permissions Violation/.test((e as Error).message))
    return `the NATS server does not let these credentials do what a ${role} does (${(e as Error).message}): see the ${role} user in docs/fleet.md`;
  return `NATS ${(e as Error).message}`;
}
