/**
 * Splits a stream of byte chunks into numbered lines. Chunk boundaries can fall anywhere (inside a
 * line or a multi-byte character): the output depends only on the concatenated input.
 *
 * Each line is decoded from the bytes on its own. Slicing lines out of one big decoded chunk would
 * make every string kept from a line (an address, a comm) pin the whole chunk in memory.
 */
export type LineSink = (line: string, lineNo: number) => void;

export class LineSplitter {
  private carry: Buffer | undefined;
  private lineNo = 0;

  constructor(private readonly sink: LineSink) {}

  push(chunk: Buffer | string): void {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (this.carry !== undefined) {
      buf = Buffer.concat([this.carry, buf]);
      this.carry = undefined;
    }
    let start = 0;
    for (let nl = buf.indexOf(10, start); nl !== -1; nl = buf.indexOf(10, start)) {
      const end = nl > start && buf[nl - 1] === 13 ? nl - 1 : nl;
      this.sink(buf.toString('utf8', start, end), ++this.lineNo);
      start = nl + 1;
    }
    // Copy the tail: keeping a view would pin the whole chunk until the next newline.
    if (start < buf.length) this.carry = Buffer.from(buf.subarray(start));
  }

  /** Flushes a last line that had no newline; returns it (with its number) so the caller can report it. */
  end(): { line: string; lineNo: number } | undefined {
    if (this.carry === undefined) return undefined;
    const last = { line: this.carry.toString('utf8'), lineNo: ++this.lineNo };
    this.carry = undefined;
    this.sink(last.line, last.lineNo);
    return last;
  }
}
