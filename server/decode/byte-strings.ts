/**
 * Strings made from ASCII bytes, remembered in a direct-mapped cache so that the same bytes give the
 * same string object. Addresses and comms repeat endlessly in a capture: reusing one string per
 * value saves an allocation per field, and the maps keyed by them (the World's tables) then hash
 * each string once and compare keys by identity. A slot holds one string; a collision replaces it,
 * which only costs a new string later. Memory is fixed by the slot count.
 */
export class ByteStrings {
  private readonly slots: (string | undefined)[];
  private readonly mask: number;
  /** Set by slotOf: whether the slot was just (re)filled. */
  fresh = false;

  constructor(bits: number) {
    this.slots = new Array<string | undefined>(1 << bits).fill(undefined);
    this.mask = (1 << bits) - 1;
  }

  /** The string of ASCII bytes [from, to) of `buf`, whose hash the caller computed. */
  lookup(buf: Buffer, from: number, to: number, hash: number): string {
    const slot = (hash ^ (hash >>> 15)) & this.mask;
    const s = this.slots[slot];
    if (s !== undefined && equals(s, buf, from, to)) return s;
    const fresh = buf.toString('latin1', from, to);
    this.slots[slot] = fresh;
    return fresh;
  }

  /** As lookup, returning the slot (see `fresh` and `at`): for a mirror of this cache elsewhere. */
  slotOf(buf: Buffer, from: number, to: number, hash: number): number {
    const slot = (hash ^ (hash >>> 15)) & this.mask;
    const s = this.slots[slot];
    this.fresh = s === undefined || !equals(s, buf, from, to);
    if (this.fresh) this.slots[slot] = buf.toString('latin1', from, to);
    return slot;
  }

  at(slot: number): string {
    return this.slots[slot]!;
  }
}

function equals(s: string, buf: Buffer, from: number, to: number): boolean {
  if (s.length !== to - from) return false;
  for (let i = from, k = 0; i < to; i++, k++) if (s.charCodeAt(k) !== buf[i]) return false;
  return true;
}
