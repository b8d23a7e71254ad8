/** Record tags to their codecs (derived from the families' specs), by name (text path) and by bytes (fast paths). */
import type { Family } from '../model/events.js';
import { hashBytes } from './byte-fields.js';
import { codecOf, type RecordCodec } from './codec.js';
import { dcacheSpec } from '../families/dcache/records.js';
import { epollSpec } from '../families/epoll/records.js';
import { fileSpec } from '../families/file/records.js';
import { fsnotifySpec } from '../families/fsnotify/records.js';
import { syscallsSpec } from '../families/syscalls/records.js';
import { tracefsSpec } from '../families/tracefs/records.js';

/** Every family's record specs (decode/spec.ts). */
export const FAMILY_SPECS = [fileSpec, epollSpec, dcacheSpec, fsnotifySpec, tracefsSpec, syscallsSpec] as const;

type AllSpecs = (typeof FAMILY_SPECS)[number]['records'][number];
/** Every record spec by its tag, with its own type (for writers of records, such as the bench generator). */
export type RecordSpecs = { readonly [S in AllSpecs as S['tag']]: S };
export const RECORD_SPECS = Object.fromEntries(FAMILY_SPECS.flatMap((f) => f.records.map((r) => [r.tag, r]))) as RecordSpecs;

export interface Route {
  codec: RecordCodec;
  family: Family;
  /** Position in ROUTE_LIST (how packed records name their route). */
  index: number;
  tag: Uint8Array;
}

export const ROUTE_LIST: readonly Route[] = FAMILY_SPECS.flatMap((f) => f.records.map((spec) => ({ spec, family: f.family }))).map(
  ({ spec, family }, index) => ({ codec: codecOf(spec), family, index, tag: Buffer.from(spec.tag, 'latin1') }),
);

export const ROUTES: ReadonlyMap<string, Route> = new Map(ROUTE_LIST.map((r) => [r.codec.tag, r]));

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
