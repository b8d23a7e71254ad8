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

export const ROUTE_LIST: readonly Route[] = FAMILY_DECODERS.flatMap((d) => d.records.map((spec) => ({ spec, family: d.family }))).map(
  (r, index) => ({ ...r, index, tag: Buffer.from(r.spec.tag, 'latin1') }),
);

export const ROUTES: ReadonlyMap<string, Route> = new Map(ROUTE_LIST.map((r) => [r.spec.tag, r]));

/**
 * The routes by a hash of the tag's bytes, in a table with one route per slot (callers compare the
 * bytes too): the smallest power-of-two size at which no two tags share a slot.
 */
export const BYTE_ROUTES: { readonly mask: number; readonly slots: readonly (Route | undefined)[] } = (() => {
  const hashes = ROUTE_LIST.map((r) => hashBytes(r.tag, 0, r.tag.length));
  for (let size = 64; size <= 1 << 20; size *= 2) {
    const slots = new Array<Route | undefined>(size).fill(undefined);
    let clash = false;
    ROUTE_LIST.forEach((r, i) => {
      const k = hashes[i]! & (size - 1);
      if (slots[k] !== undefined) clash = true;
      slots[k] = r;
    });
    if (!clash) return { mask: size - 1, slots };
  }
  throw new Error('record tags: no collision-free table of their hashes');
})();
