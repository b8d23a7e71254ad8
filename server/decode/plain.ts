/**
 * The check both fast paths share (in-thread, and the decode worker): bytes [start, end) of a line
 * are a plain printf record (bpftrace's exact envelope, ASCII, no escape but the separating tabs)
 * of a known tag, with the right number of fields and a well-formed head. Anything else is left to
 * the text path, which reports it.
 */
import { nanosOf, secondsOf } from '../model/time.js';
import type { ByteFields } from './byte-fields.js';
import { PRINTF_PREFIX } from './envelope.js';
import { HEAD, plausibleOrigin } from './fields.js';
import { BYTE_ROUTES, type Route } from './routes.js';

const PREFIX = Buffer.from(PRINTF_PREFIX, 'latin1');

/** Splits the record into `r` and parses its head (r.sec, r.ns, r.cpu, r.pid, r.tid); its route, or undefined. */
export function readPlainHead(r: ByteFields, buf: Buffer, start: number, end: number): Route | undefined {
  const p = PREFIX;
  const to = end - 2;
  if (to < start + p.length || buf[to] !== 34 /* " */ || buf[to + 1] !== 125 /* } */) return undefined;
  for (let i = 0; i < p.length; i++) if (buf[start + i] !== p[i]) return undefined;
  if (!r.split(buf, start + p.length, to)) return undefined;
  const route = BYTE_ROUTES.get(r.hash(0));
  if (route === undefined || !r.is(0, route.tag)) return undefined;
  const want = HEAD + route.spec.fields + 1;
  if (route.spec.variadic ? r.n < want : r.n !== want) return undefined;
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
