/**
 * The agent's control messages (hello, end), checked where they enter. A hello is kept for the
 * host's lifetime, serialized into every snapshot, journal and recording: each of its parts is
 * bounded here (size, depth, counts, string lengths), and what is kept is a copy holding only the
 * fields the protocol knows, so nothing unbounded rides along.
 */
import { PROTOCOL_VERSION, type AgentHello, type AgentMessage, type RuleState } from '../shared/wire.js';
import { err, ok, type Result } from '../support/result.js';
import { nameProblem } from './names.js';

/** Most bytes of one text (control) frame on the agent socket; a real hello is a few KB. */
export const MAX_CONTROL_FRAME = 256 << 10;
/** Deepest nesting of the capture header inside a hello (a real one nests 3 levels). */
export const MAX_HEADER_DEPTH = 8;
/** Most values (objects, arrays, scalars) in the header. */
export const MAX_HEADER_VALUES = 20_000;
/** Longest string or key in the header (a workload's command line is the longest). */
export const MAX_HEADER_STRING = 4096;
/** Most characters of all the header's strings and keys together (whichever way the hello came: a frame, a capture file). */
export const MAX_HEADER_CHARS = 256 << 10;
/** Most rule states in a hello (lifetrace has a dozen rules). */
export const MAX_HELLO_RULES = 64;
/** Most probe families a header names (lifetrace has six), each a short name: every host view carries them. */
export const MAX_HEADER_FAMILIES = 32;
const FAMILY = /^[A-Za-z0-9._-]{1,64}$/;
export const MAX_LABEL = 512;

const RULE_ID = /^[A-Za-z0-9._-]{1,64}$/;
const RULE_STATES: readonly RuleState[] = ['active', 'degraded', 'off'];

/** Why a JSON value is out of bounds, or undefined. Recursion stops at the depth bound, so it cannot overflow. */
function jsonBoundsRefusal(v: unknown, what: string): string | undefined {
  let values = 0;
  let chars = 0;
  const text = (t: string, kind: string): string | undefined => {
    if (t.length > MAX_HEADER_STRING) return `${what} has a ${kind} longer than ${MAX_HEADER_STRING}`;
    chars += t.length;
    return chars > MAX_HEADER_CHARS ? `${what} holds more than ${MAX_HEADER_CHARS} characters` : undefined;
  };
  const walk = (x: unknown, depth: number): string | undefined => {
    if (++values > MAX_HEADER_VALUES) return `${what} has more than ${MAX_HEADER_VALUES} values`;
    if (typeof x === 'string') return text(x, 'string');
    if (typeof x !== 'object' || x === null) return undefined;
    if (depth >= MAX_HEADER_DEPTH) return `${what} nests deeper than ${MAX_HEADER_DEPTH} levels`;
    if (Array.isArray(x)) {
      for (const e of x) {
        const why = walk(e, depth + 1);
        if (why !== undefined) return why;
      }
      return undefined;
    }
    for (const [k, e] of Object.entries(x)) {
      const why = text(k, 'key') ?? walk(e, depth + 1);
      if (why !== undefined) return why;
    }
    return undefined;
  };
  return walk(v, 0);
}

/**
 * Why a capture header (`what`: where it came from) is not one or is out of bounds, or undefined. Every
 * host's header passes here: an agent's hello, a replayed capture's.
 */
export function headerRefusal(header: unknown, what: string): string | undefined {
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return `${what} must be the capture header object`;
  const why = jsonBoundsRefusal(header, what);
  if (why !== undefined) return why;
  const families = (header as Record<string, unknown>).families;
  if (typeof families === 'object' && families !== null) {
    const names = Object.keys(families);
    if (names.length > MAX_HEADER_FAMILIES || !names.every((n) => FAMILY.test(n))) {
      return `${what}.families names up to ${MAX_HEADER_FAMILIES} families, each of [A-Za-z0-9._-] up to 64`;
    }
  }
  return undefined;
}

/** A hello checked field by field; returns a bounded copy, or why it is refused. Also for hellos read back from disk. */
export function checkHello(m: Record<string, unknown>): Result<AgentHello> {
  // JSON.stringify, not String(): a parsed object may carry a "toString" that is not a function.
  if (m.protocol !== PROTOCOL_VERSION) {
    return err(`protocol ${JSON.stringify(m.protocol)?.slice(0, 40)} is not ${PROTOCOL_VERSION}: upgrade the agent or the server`);
  }
  const badName = nameProblem('run', m.run) ?? nameProblem('host', m.host); // names.ts: they become journal paths
  if (badName !== undefined) return err(`hello: ${badName}`);
  if (m.mode !== 'live' && m.mode !== 'replay') return err('hello.mode must be live or replay');
  if (m.label !== undefined && (typeof m.label !== 'string' || m.label.length > MAX_LABEL)) {
    return err(`hello.label must be a string of up to ${MAX_LABEL}`);
  }
  const why = headerRefusal(m.header, 'hello.header');
  if (why !== undefined) return err(why);
  if (!Array.isArray(m.rules) || m.rules.length > MAX_HELLO_RULES) return err(`hello.rules must be a list of up to ${MAX_HELLO_RULES}`);
  const rules: AgentHello['rules'] = [];
  for (const r of m.rules as unknown[]) {
    const rr = (typeof r === 'object' && r !== null ? r : {}) as Record<string, unknown>;
    if (typeof rr.id !== 'string' || !RULE_ID.test(rr.id) || !RULE_STATES.includes(rr.status as RuleState)) {
      return err('hello.rules entries are {id, status}: an id of [A-Za-z0-9._-] up to 64, a status of active, degraded or off');
    }
    rules.push({ id: rr.id, status: rr.status as RuleState });
  }
  return ok({
    type: 'hello',
    protocol: PROTOCOL_VERSION,
    run: m.run as string,
    host: m.host as string, // checked by nameProblem above
    mode: m.mode,
    ...(m.label === undefined ? {} : { label: m.label as string }),
    header: m.header as Record<string, unknown>,
    rules,
  });
}

/** Validates an untrusted control message; returns it typed, or why it is refused. */
export function parseAgentMessage(text: string): Result<AgentMessage> {
  if (text.length > MAX_CONTROL_FRAME) return err(`a text frame holds ${MAX_CONTROL_FRAME} bytes at most`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return err('a text frame must be JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return err('a message must be a JSON object');
  const m = v as Record<string, unknown>;
  switch (m.type) {
    case 'hello':
      return checkHello(m);
    case 'end':
      if (!Number.isSafeInteger(m.lastSeq) || (m.lastSeq as number) < 0 || typeof m.reason !== 'string')
        return err('end needs lastSeq and reason');
      return ok({ type: 'end', lastSeq: m.lastSeq as number, reason: m.reason.slice(0, 512) });
    default:
      return err(`unknown message type ${JSON.stringify(m.type)?.slice(0, 40)}`);
  }
}
