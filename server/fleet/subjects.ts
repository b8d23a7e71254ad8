/**
 * Where a fleet's data lives on NATS JetStream (docs/fleet.md). One stream holds every host's
 * messages, one subject per host; the worker that follows a host reads that subject from its start.
 *
 * A host's subject carries, in order, for each agent run: the run's hello (JSON), its batches (the
 * binary frames the WebSocket link sends, byte for byte) and, when the stream ended, its end (JSON).
 * Each message's Nats-Msg-Id is `RUN:hello`, `RUN:SEQ` or `RUN:end`: a resend within the stream's
 * duplicate window is dropped by the broker.
 */
import { StorageType, type StreamConfig } from '@nats-io/jetstream';

export const STREAM = 'LIFETRACE';
export const BATCH_SUBJECTS = 'lifetrace.batches';

/** How long JetStream remembers message ids: a resend after a broker outage this long is still dropped. */
export const DUPLICATE_WINDOW_NS = 10 * 60 * 1e9;

/** The header that says what a message on a host's subject is. */
export const KIND_HEADER = 'Lifetrace-Kind';
export type MessageKind = 'hello' | 'batch' | 'end';

/**
 * A host name as one subject token (and KV key): host names may hold `.` and `:` (live/names.ts),
 * which a subject token cannot (`.` separates tokens) and a KV key cannot (`:`). `=` is in no host
 * name, so `=XX` escapes keep the mapping one to one.
 */
export function hostToken(host: string): string {
  return host.replace(/[.:]/g, (c) => `=${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The host name a token stands for (hostToken's inverse). */
export function hostOfToken(token: string): string {
  return token.replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

export const batchSubject = (host: string): string => `${BATCH_SUBJECTS}.${hostToken(host)}`;

export const messageId = (run: string, what: number | 'hello' | 'end'): string => `${run}:${what}`;

/** The run and what of a message id this module made, or undefined for anything else. */
export function parseMessageId(id: string | undefined): { run: string; what: number | 'hello' | 'end' } | undefined {
  const m = id === undefined ? null : /^(.+):(hello|end|[1-9]\d*)$/.exec(id);
  if (m === null) return undefined;
  const what = m[2]!;
  return { run: m[1]!, what: what === 'hello' || what === 'end' ? what : Number(what) };
}

/**
 * The stream as an agent creates it when it is missing: file storage, every host's subject, the
 * duplicate window above. Retention is the operator's (docs/fleet.md: max_age, max_bytes).
 */
export const STREAM_CONFIG: Partial<StreamConfig> & { name: string } = {
  name: STREAM,
  subjects: [`${BATCH_SUBJECTS}.>`],
  storage: StorageType.File,
  duplicate_window: DUPLICATE_WINDOW_NS,
  // An agent resumes by reading its own subject's last message with a direct get, whose API subject
  // names the subject read: the broker's permissions can then keep an agent to its own host's.
  allow_direct: true,
};
