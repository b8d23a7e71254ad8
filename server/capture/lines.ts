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

export class LineSplitter {
  private carry: Buffer | undefined;
  private lineNo = 0;

  constructor(
    private readonly sink: LineSink,
    private readonly scan?: LineScanner,
  ) {}

  push(chunk: Buffer | string): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    if (this.carry !== undefined) {
      // Only the line that straddles the boundary is copied, not the whole chunk.
      const nl = buf.indexOf(10);
      if (nl === -1) {
        this.carry = Buffer.concat([this.carry, buf]);
        return;
      }
      const line = Buffer.concat([this.carry, buf.subarray(0, nl + 1)]);
      this.carry = undefined;
      this.emit(line, 0, line.length - 1);
      start = nl + 1;
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
    if (start < buf.length) this.carry = Buffer.from(buf.subarray(start));
  }

  /** Flushes a last line that had no newline; returns it (with its number) so the caller can report it. */
  end(): { line: string; lineNo: number } | undefined {
    const carry = this.carry;
    if (carry === undefined) return undefined;
    this.carry = undefined;
    const lineNo = ++this.lineNo;
    this.sink(carry, 0, carry.length, lineNo);
    return { line: carry.toString('utf8'), lineNo };
  }

  /** A line ending at the newline at `nl`, without a CR before it. */
  private emit(buf: Buffer, start: number, nl: number): void {
    const end = nl > start && buf[nl - 1] === 13 ? nl - 1 : nl;
    this.sink(buf, start, end, ++this.lineNo);
  }
}

/** A sink that wants each line as a string (readers off the hot path). */
export function textLines(sink: (line: string, lineNo: number) => void): LineSink {
  return (buf, start, end, lineNo) => sink(buf.toString('utf8', start, end), lineNo);
}
