/**
 * Splits a stream of byte chunks into numbered lines. Chunk boundaries can fall anywhere (inside a
 * line or a multi-byte character): the output depends only on the concatenated input.
 *
 * Lines are handed over as byte ranges of a buffer that is only valid during the call: the reader
 * decides what becomes a string. (Decoding each line on its own, never slicing one big decoded
 * chunk, keeps any string kept from a line from pinning the whole chunk in memory.)
 */
export type LineSink = (buf: Buffer, start: number, end: number, lineNo: number) => void;

/**
 * A reader that can take a line while looking for its end (saving a search for the newline): given
 * where the line starts and where the bytes end, it returns the index of the newline that ends the
 * line it took, or -1 to have the line found and given to the LineSink as usual.
 */
export type LineScanner = (buf: Buffer, start: number, limit: number, lineNo: number) => number;

/**
 * The longest line read (bytes, newline excluded). A capture line is a record of a few hundred bytes
 * or a header; bpftrace's map dump at exit is the longest real one. A longer line is skipped up to
 * its newline without being held (memory stays bounded) and told to `tooLong`.
 */
export const MAX_LINE_BYTES = 8 << 20;

/** Told of a line longer than the bound: its number and length (it is not handed to the sink). */
export type LongLineSink = (lineNo: number, bytes: number) => void;

export class LineSplitter {
  /** The start of a line that straddles chunk boundaries, in pieces (joined once, at its end: no quadratic copy). */
  private readonly parts: Buffer[] = [];
  private carried = 0;
  /** The line being carried is past the bound: its bytes are counted, not kept. */
  private skipping = false;
  private lineNo = 0;

  constructor(
    private readonly sink: LineSink,
    private readonly scan?: LineScanner,
    private readonly tooLong: LongLineSink = () => {},
    private readonly maxBytes = MAX_LINE_BYTES,
  ) {}

  push(chunk: Buffer | string): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    if (this.carried > 0 || this.skipping) {
      // Only the line that straddles the boundary is copied, not the whole chunk.
      const nl = buf.indexOf(10);
      if (nl === -1) {
        this.carry(buf, true);
        return;
      }
      this.carry(buf.subarray(0, nl + 1), false); // joined right below
      start = nl + 1;
      if (this.skipping) {
        this.skipping = false;
        this.tooLong(++this.lineNo, this.carried - 1);
        this.carried = 0;
      } else {
        const line = Buffer.concat(this.parts, this.carried);
        this.parts.length = 0;
        this.carried = 0;
        this.emit(line, 0, line.length - 1);
      }
    }
    const scan = this.scan;
    for (;;) {
      if (scan !== undefined) {
        const taken = scan(buf, start, buf.length, this.lineNo + 1);
        if (taken >= 0) {
          this.lineNo++;
          start = taken + 1;
          continue;
        }
      }
      const nl = buf.indexOf(10, start);
      if (nl === -1) break;
      this.emit(buf, start, nl);
      start = nl + 1;
    }
    // Copy the tail: keeping a view would pin the whole chunk until the next newline.
    if (start < buf.length) this.carry(buf.subarray(start), true);
  }

  /** Flushes a last line that had no newline; returns it (with its number) so the caller can report it. */
  end(): { line: string; lineNo: number } | undefined {
    if (this.skipping) {
      this.skipping = false;
      this.tooLong(++this.lineNo, this.carried);
      this.carried = 0;
      return undefined;
    }
    if (this.carried === 0) return undefined;
    const carry = Buffer.concat(this.parts, this.carried);
    this.parts.length = 0;
    this.carried = 0;
    const lineNo = ++this.lineNo;
    this.sink(carry, 0, carry.length, lineNo);
    return { line: carry.toString('utf8'), lineNo };
  }

  /**
   * A line its sender skipped as too long (a replay reads the file with a splitter of its own), at a
   * line boundary: numbered as if read, so the lines after it keep their numbers. Returns its number.
   */
  skipLine(): number {
    return ++this.lineNo;
  }

  /** Forgets a line in progress (after a fault of the reader: the next chunk starts clean). */
  reset(): void {
    this.parts.length = 0;
    this.carried = 0;
    this.skipping = false;
  }

  /**
   * Bytes of a line not ended yet: kept, or only counted once past the bound. `copy`: the piece is a
   * view of the caller's chunk, which must not be pinned (nor changed under us) until the line ends.
   */
  private carry(piece: Buffer, copy: boolean): void {
    this.carried += piece.length;
    if (this.skipping) return;
    if (this.carried > this.maxBytes + 1) {
      this.skipping = true;
      this.parts.length = 0;
      return;
    }
    this.parts.push(copy ? Buffer.from(piece) : piece);
  }

  /** A line ending at the newline at `nl`, without a CR before it. */
  private emit(buf: Buffer, start: number, nl: number): void {
    if (nl - start > this.maxBytes) {
      this.tooLong(++this.lineNo, nl - start);
      return;
    }
    const end = nl > start && buf[nl - 1] === 13 ? nl - 1 : nl;
    this.sink(buf, start, end, ++this.lineNo);
  }
}

/** A sink that wants each line's bytes: a view of the reader's buffer, valid only during the call (copy what is kept). */
export function byteLines(sink: (line: Buffer, lineNo: number) => void): LineSink {
  return (buf, start, end, lineNo) => sink(buf.subarray(start, end), lineNo);
}

/** Whether a line's bytes begin with `prefix` (an ASCII envelope, say), without decoding the line. */
export function hasPrefix(line: Uint8Array, prefix: Uint8Array): boolean {
  if (line.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (line[i] !== prefix[i]) return false;
  return true;
}

/** A sink that wants each line as a string (readers off the hot path). */
export function textLines(sink: (line: string, lineNo: number) => void): LineSink {
  return (buf, start, end, lineNo) => sink(buf.toString('utf8', start, end), lineNo);
}
