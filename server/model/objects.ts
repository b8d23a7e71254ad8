/** Kernel objects lifetrace follows, and their identities across address reuse. */
import type { ObjectKind } from '../shared/kinds.js';
import type { Addr } from './event-shape.js';

/** The kinds (shared/kinds.ts, where the dashboard reads them too). */
export { OBJECT_KINDS, type ObjectKind } from '../shared/kinds.js';

/** kind, address and generation: an address born again after a free is a new generation. */
export interface ObjectId {
  kind: ObjectKind;
  addr: Addr;
  gen: number;
}

export function formatObject(o: ObjectId): string {
  return `${o.kind} 0x${o.addr}#${o.gen}`;
}
