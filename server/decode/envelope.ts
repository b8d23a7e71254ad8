/**
 * bpftrace `-f json` envelopes: one JSON object per line. printf records (the hot path) are
 * recognised by their exact spelling and split in place by Fields, without JSON.parse; everything
 * else goes through here, which is plenty fast for the rare lines it sees.
 */

export const PRINTF_PREFIX = '{"type": "printf", "data": "';

const PRINTF_NSECS = /^\{"type": "printf", "data": "[^"\\]*\\t(\d{1,20})\\t/;

/**
 * The kernel time (decimal ns, as bpftrace printed it) of a printf record line, read without
 * decoding the record (pacing a replay, marking a gap); undefined for any other line.
 */
export function printfNsecs(line: string): string | undefined {
  return PRINTF_NSECS.exec(line)?.[1];
}

const PRINTF_PREFIX_BYTES = Buffer.from(PRINTF_PREFIX, 'latin1');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const T = 0x74;

/** `printfNsecs` on a line's bytes (an agent's source reads them so, and sends them on as they are). */
export function printfNsecsOf(line: Uint8Array): string | undefined {
  const n = PRINTF_PREFIX_BYTES.length;
  if (line.length < n) return undefined;
  for (let i = 0; i < n; i++) if (line[i] !== PRINTF_PREFIX_BYTES[i]) return undefined;
  // The tag (no quote, no escape), then \t, 1 to 20 digits, \t: as PRINTF_NSECS reads it.
  let i = n;
  while (i < line.length && line[i] !== QUOTE && line[i] !== BACKSLASH) i++;
  if (line[i] !== BACKSLASH || line[i + 1] !== T) return undefined;
  const from = (i += 2);
  while (i < line.length && i - from <= 20 && line[i]! >= 0x30 && line[i]! <= 0x39) i++;
  if (i === from || i - from > 20 || line[i] !== BACKSLASH || line[i + 1] !== T) return undefined;
  let ns = '';
  for (let j = from; j < i; j++) ns += String.fromCharCode(line[j]!);
  return ns;
}

export type Envelope =
  | { type: 'printf'; data: string }
  | { type: 'lost'; count: number }
  /** lifetrace's own record: the probes were not running from `from` to `to` (kernel ns). */
  | { type: 'gap'; from: string; to: string; reason: string }
  | { type: 'attached'; probes: number }
  | { type: 'map'; name: string; value: unknown }
  | { type: 'diagnostic'; level: string; message: string }
  | { type: 'other'; jsonType: string }
  | { type: 'longline'; bytes: number }
  | { type: 'bad'; reason: string; json: boolean };

/** Any line that is not a printf record in bpftrace's exact spelling. */
export function parseEnvelope(line: string): Envelope {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { type: 'bad', reason: 'not valid JSON', json: false };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { type: 'bad', reason: 'not a JSON object', json: true };
  const o = v as { type?: unknown; data?: unknown; msg?: unknown };
  if (typeof o.type !== 'string') return { type: 'bad', reason: 'no "type" field', json: true };
  const data = o.data as Record<string, unknown> | undefined;
  switch (o.type) {
    case 'printf':
      // Reached only when the fast path's exact spelling did not match (other whitespace).
      return typeof o.data === 'string'
        ? { type: 'printf', data: o.data }
        : { type: 'bad', reason: 'printf without string data', json: true };
    case 'lost_events': {
      const count = countOf(data?.events ?? data?.count);
      return count === undefined ? { type: 'bad', reason: 'lost_events without a count', json: true } : { type: 'lost', count };
    }
    case 'lifetrace_gap': {
      const from = data?.from;
      const to = data?.to;
      if (typeof from !== 'string' || typeof to !== 'string' || !/^\d{1,20}$/.test(from) || !/^\d{1,20}$/.test(to)) {
        return { type: 'bad', reason: 'lifetrace_gap needs from and to as decimal ns strings', json: true };
      }
      return {
        type: 'gap',
        from,
        to,
        reason: typeof data?.reason === 'string' ? data.reason.slice(0, 300) : 'the probes were not running',
      };
    }
    case 'lifetrace_long_line': {
      // Put by an agent in place of a line it could not send (longer than any record): counted where it was.
      const bytes = countOf(data?.bytes);
      return bytes === undefined
        ? { type: 'bad', reason: 'lifetrace_long_line without its bytes', json: true }
        : { type: 'longline', bytes };
    }
    case 'attached_probes': {
      const probes = data?.probes === undefined ? 0 : countOf(data.probes); // absent: none said
      return probes === undefined ? { type: 'bad', reason: 'attached_probes without a count', json: true } : { type: 'attached', probes };
    }
    case 'map': {
      const [name] = Object.keys(data ?? {});
      return name === undefined ? { type: 'bad', reason: 'map without a name', json: true } : { type: 'map', name, value: data![name] };
    }
    case 'errorf':
    case 'warnf':
    case 'helper_error':
    case 'runtime_error': {
      const msg = o.msg ?? (data as { msg?: unknown } | undefined)?.msg ?? o.data;
      return { type: 'diagnostic', level: o.type, message: typeof msg === 'string' ? msg : JSON.stringify(msg) };
    }
    default:
      return { type: 'other', jsonType: o.type };
  }
}

/** A count as bpftrace prints it: a non-negative integer (or its decimal string); anything else is not one. */
function countOf(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}
