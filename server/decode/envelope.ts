/**
 * bpftrace `-f json` envelopes: one JSON object per line. printf records (the hot path) are split
 * into their tab-separated fields straight from the JSON text, without JSON.parse; everything else
 * goes through JSON.parse, which is plenty fast for the rare lines it sees.
 */

export type Envelope =
  | { type: 'printf'; fields: string[] }
  | { type: 'lost'; count: number }
  | { type: 'attached'; probes: number }
  | { type: 'map'; name: string; value: unknown }
  | { type: 'diagnostic'; level: string; message: string }
  | { type: 'other'; jsonType: string }
  | { type: 'bad'; reason: string; json: boolean };

const PRINTF_PREFIX = '{"type": "printf", "data": "';
const PRINTF_COMPACT = '{"type":"printf","data":"';

export function parseEnvelope(line: string): Envelope {
  if (line.startsWith(PRINTF_PREFIX)) return printfFields(line, PRINTF_PREFIX.length);
  if (line.startsWith(PRINTF_COMPACT)) return printfFields(line, PRINTF_COMPACT.length);
  return slowPath(line);
}

/**
 * Splits the JSON string body that starts at `from` on escaped tabs (`\t`). Only backslashes are
 * visited (indexOf is vectorised; a record has a handful). A field holding any other escape is
 * unescaped with JSON.parse; a field with a raw tab cannot be told apart from a separator, so the
 * record decoders check their field counts.
 */
function printfFields(line: string, from: number): Envelope {
  const end = line.length - 2;
  if (end < from || line.charCodeAt(end) !== 34 /* " */ || line.charCodeAt(end + 1) !== 125 /* } */) {
    return { type: 'bad', reason: 'unterminated printf record', json: false };
  }
  const fields: string[] = [];
  let start = from;
  let escaped = false;
  for (let i = line.indexOf('\\', from); i !== -1 && i < end; i = line.indexOf('\\', i + 2)) {
    if (line.charCodeAt(i + 1) === 116 /* t */) {
      fields.push(field(line, start, i, escaped));
      escaped = false;
      start = i + 2;
    } else {
      escaped = true;
    }
  }
  fields.push(field(line, start, end, escaped));
  return { type: 'printf', fields };
}

function field(line: string, start: number, end: number, escaped: boolean): string {
  const raw = line.slice(start, end);
  if (!escaped) return raw;
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return raw;
  }
}

function slowPath(line: string): Envelope {
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
      return typeof o.data === 'string' ? { type: 'printf', fields: o.data.split('\t') } : { type: 'bad', reason: 'printf without string data', json: true };
    case 'lost_events': {
      const count = Number(data?.events ?? data?.count);
      return Number.isFinite(count) && count >= 0 ? { type: 'lost', count } : { type: 'bad', reason: 'lost_events without a count', json: true };
    }
    case 'attached_probes':
      return { type: 'attached', probes: Number(data?.probes ?? 0) };
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
