/**
 * The NATS flags every fleet command takes (`--nats URL` and one kind of credentials, `--nats-ca`),
 * turned into a NatsTarget: the same rules and messages for each (docs/fleet.md). There is no
 * anonymous default.
 */
import { readFileSync } from 'node:fs';
import { err, ok, type Result } from '../support/result.js';
import { parseNatsUrl, type NatsCredentials, type NatsTarget } from './connect.js';

/** The flags, as node:util parseArgs gives them. */
export type NatsFlags = Record<string, string | boolean | undefined>;

export const NATS_FLAG_OPTIONS = {
  nats: { type: 'string' },
  'nats-user': { type: 'string' },
  'nats-pass': { type: 'string' },
  'nats-token': { type: 'string' },
  'nats-nkey': { type: 'string' },
  'nats-creds': { type: 'string' },
  'nats-ca': { type: 'string' },
} as const;

export const NATS_FLAGS_USAGE = `  --nats        the NATS server (nats://HOST:PORT, or tls://HOST:PORT)
  --nats-user, --nats-pass   user and password (the password default LIFETRACE_NATS_PASS)
  --nats-token  a token (default LIFETRACE_NATS_TOKEN)
  --nats-nkey   a file holding an nkey seed (SU...)
  --nats-creds  a credentials file (JWT and seed, decentralized auth)
  --nats-ca     the certificate authority (PEM) that signed the NATS server's certificate: TLS`;

/** `--nats` and its credentials (from the flags, else the environment), or why they do not make a target. */
export function natsTargetOf(values: NatsFlags, env: NodeJS.ProcessEnv = process.env): Result<NatsTarget> {
  const url = values.nats;
  if (typeof url !== 'string') return err('--nats URL is required');
  const parsed = parseNatsUrl(url);
  if (!parsed.ok) return err(`--nats: ${parsed.error}`);
  const user = values['nats-user'] as string | undefined;
  const pass = (values['nats-pass'] as string | undefined) ?? (user !== undefined ? env.LIFETRACE_NATS_PASS : undefined);
  const token = (values['nats-token'] as string | undefined) ?? env.LIFETRACE_NATS_TOKEN;
  const nkey = values['nats-nkey'] as string | undefined;
  const creds = values['nats-creds'] as string | undefined;
  if (pass !== undefined && user === undefined) return err('--nats-pass goes with --nats-user');
  const kinds: NatsCredentials[] = [];
  if (user !== undefined) {
    if (!pass) return err('--nats-user needs its password: --nats-pass P or LIFETRACE_NATS_PASS');
    kinds.push({ kind: 'user', user, pass });
  }
  if (token) kinds.push({ kind: 'token', token });
  if (nkey !== undefined) {
    const text = readSecret('--nats-nkey', nkey);
    if (!text.ok) return text;
    const seed = text.value
      .split('\n')
      .map((l) => l.trim())
      .find((l) => /^SU[A-Z2-7]{50,}$/.test(l));
    if (seed === undefined) return err(`--nats-nkey ${nkey} holds no user nkey seed (a line SU...; nk -gen user)`);
    kinds.push({ kind: 'nkey', seed });
  }
  if (creds !== undefined) {
    const text = readSecret('--nats-creds', creds);
    if (!text.ok) return text;
    kinds.push({ kind: 'creds', creds: text.value });
  }
  if (kinds.length === 0)
    return err(
      '--nats needs credentials (the NATS server must not let anyone in or publish): ' +
        '--nats-user U --nats-pass P, --nats-token T, --nats-nkey F or --nats-creds F (docs/fleet.md)',
    );
  if (kinds.length > 1) return err('give one kind of NATS credentials: --nats-user/--nats-pass, --nats-token, --nats-nkey or --nats-creds');
  const caFile = values['nats-ca'] as string | undefined;
  if (caFile === undefined) return ok({ url, credentials: kinds[0]! });
  const ca = readSecret('--nats-ca', caFile);
  return ca.ok ? ok({ url, credentials: kinds[0]!, ca: ca.value }) : ca;
}

function readSecret(flag: string, file: string): Result<string> {
  try {
    return ok(readFileSync(file, 'utf8').trim());
  } catch (e) {
    return err(`cannot read ${flag} ${file}: ${(e as Error).message}`);
  }
}
