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

  constructor(bits: number) {
    this.slots = new Array<string | undefined>(1 << bits).fill(undefined);
    this.mask = (1 << bits) - 1;
  }

  /** The string of bytes [from, to) of `buf`, which must all be ASCII (< 0x80). */
  get(buf: Buffer, from: number, to: number): string {
    let h = to - from;
    for (let i = from; i < to; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
    return this.lookup(buf, from, to, h);
  }

  /** As get, with the caller's hash of the bytes (computed while it validated them). */
  lookup(buf: Buffer, from: number, to: number, hash: number): string {
    const slot = (hash ^ (hash >>> 15)) & this.mask;
    const s = this.slots[slot];
    if (s !== undefined && equals(s, buf, from, to)) return s;
    const fresh = buf.toString('latin1', from, to);
    this.slots[slot] = fresh;
    return fresh;
  }
}

function equals(s: string, buf: Buffer, from: number, to: number): boolean {
  if (s.length !== to - from) return false;
  for (let i = from, k = 0; i < to; i++, k++) if (s.charCodeAt(k) !== buf[i]) return false;
  return true;
}
