/** Kernel objects lifetrace follows, and their identities across address reuse. */
import type { Addr } from './event-shape.js';

export const OBJECT_KINDS = ['file', 'dentry', 'epitem', 'epoll', 'mark', 'eventfs'] as const;
export type ObjectKind = (typeof OBJECT_KINDS)[number];

/** kind, address and generation: an address born again after a free is a new generation. */
export interface ObjectId {
  kind: ObjectKind;
  addr: Addr;
  gen: number;
}

export function formatObject(o: ObjectId): string {
  return `${o.kind} 0x${o.addr}#${o.gen}`;
}
