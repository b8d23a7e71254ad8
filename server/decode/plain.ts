/**
 * The check both fast paths share (in-thread, and the decode worker): bytes [start, end) of a line
 * are a plain printf record (bpftrace's exact envelope, ASCII, no escape but the separating tabs)
 * of a known tag, with the right number of fields and a well-formed head. Anything else is left to
 * the text path, which reports it.
 *
 * The body ends at its first unescaped quote, which must close the envelope (`"}`) at the line's
 * end; a plain body has no other quote (JSON would escape it).
 */
import { nanosOf, secondsOf } from '../model/time.js';
import type { ByteFields } from './byte-fields.js';
import { PRINTF_PREFIX } from './envelope.js';
import { HEAD, plausibleOrigin } from './fields.js';
import { BYTE_ROUTES, type Route } from './routes.js';

const PREFIX = Buffer.from(PRINTF_PREFIX, 'latin1');
/** The prefix as little-endian 32-bit words (it is 28 bytes long). */
const PREFIX_WORDS = Int32Array.from({ length: PREFIX.length / 4 }, (_, k) => PREFIX.readInt32LE(4 * k));
if (PREFIX.length % 4 !== 0) throw new Error('the printf prefix is read in 4-byte words');

/** Splits the record on the line [start, end) into `r` and parses its head (r.sec, r.ns, r.cpu, r.pid, r.tid); its route, or undefined. */
export function readPlainHead(r: ByteFields, buf: Buffer, start: number, end: number): Route | undefined {
  const quote = splitPlain(r, buf, start, end);
  if (quote !== end - 2 || buf[quote + 1] !== 125 /* } */) return undefined;
  return readHead(r, buf);
}

/**
 * readPlainHead on a line that starts at `start` and ends at the first newline before `limit`,
 * found on the way: the index of that newline is left in r.lineEnd. Undefined when the line is not
 * a plain record ending in a newline before `limit` (without a CR), its route otherwise.
 */
export function scanPlainRecord(r: ByteFields, buf: Buffer, start: number, limit: number): Route | undefined {
  const quote = splitPlain(r, buf, start, limit);
  if (quote < 0 || quote + 2 >= limit || buf[quote + 1] !== 125 /* } */ || buf[quote + 2] !== 10 /* \n */) return undefined;
  r.lineEnd = quote + 2;
  return readHead(r, buf);
}

/** The envelope's prefix, then the string body split into r: the closing quote's index, or -1. */
function splitPlain(r: ByteFields, buf: Buffer, start: number, limit: number): number {
  if (limit - start < PREFIX.length + 2) return -1;
  // Four bytes at a time: seven compares instead of twenty-eight.
  const v = r.view(buf);
  for (let k = 0; k < PREFIX_WORDS.length; k++) if (v.getInt32(start + 4 * k, true) !== PREFIX_WORDS[k]) return -1;
  return r.split(buf, start + PREFIX.length, limit);
}

function readHead(r: ByteFields, buf: Buffer): Route | undefined {
  const route = BYTE_ROUTES.slots[r.hash(0) & BYTE_ROUTES.mask];
  if (route === undefined || !r.is(0, route.tag)) return undefined;
  const want = HEAD + route.codec.width + 1;
  if (route.codec.variadic ? r.n < want : r.n !== want) return undefined;
  const s = r.start[1]!;
  const e = r.end[1]!;
  r.sec = secondsOf(buf, s, e);
  r.ns = nanosOf(buf, s, e);
  r.cpu = r.number(2);
  r.pid = r.number(3);
  r.tid = r.number(4);
  if (Number.isNaN(r.sec) || Number.isNaN(r.ns) || !plausibleOrigin(r.cpu, r.pid, r.tid)) return undefined;
  return route;
}
