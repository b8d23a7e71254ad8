/** Record tags to their family decoders, by name (text path) and by bytes (fast paths). */
import type { Family } from '../model/events.js';
import { hashBytes } from './byte-fields.js';
import type { RecordSpec } from './fields.js';
import { dcacheDecoder } from './families/dcache.js';
import { epollDecoder } from './families/epoll.js';
import { fileDecoder } from './families/file.js';
import { fsnotifyDecoder } from './families/fsnotify.js';
import { syscallsDecoder } from './families/syscalls.js';
import { tracefsDecoder } from './families/tracefs.js';

export const FAMILY_DECODERS = [fileDecoder, epollDecoder, dcacheDecoder, fsnotifyDecoder, tracefsDecoder, syscallsDecoder];

export interface Route {
  spec: RecordSpec;
  family: Family;
  /** Position in ROUTE_LIST (how packed records name their route). */
  index: number;
  tag: Uint8Array;
}

export const ROUTE_LIST: readonly Route[] = FAMILY_DECODERS.flatMap((d) => d.records.map((spec) => ({ spec, family: d.family })))
  .map((r, index) => ({ ...r, index, tag: Buffer.from(r.spec.tag, 'latin1') }));

export const ROUTES: ReadonlyMap<string, Route> = new Map(ROUTE_LIST.map((r) => [r.spec.tag, r]));

/** The routes by a hash of the tag's bytes (callers compare the bytes too). */
export const BYTE_ROUTES: ReadonlyMap<number, Route> = (() => {
  const m = new Map<number, Route>();
  for (const r of ROUTE_LIST) {
    const h = hashBytes(r.tag, 0, r.tag.length);
    if (m.has(h)) throw new Error(`record tags ${r.spec.tag} and ${m.get(h)!.spec.tag} hash alike`);
    m.set(h, r);
  }
  return m;
})();
