/**
 * Splits a stream of text chunks into numbered lines. Chunk boundaries can fall anywhere (inside a
 * line or a multi-byte character): the output depends only on the concatenated input.
 */
import { StringDecoder } from 'node:string_decoder';

export type LineSink = (line: string, lineNo: number) => void;

export class LineSplitter {
  private readonly utf8 = new StringDecoder('utf8');
  private carry = '';
  private lineNo = 0;

  constructor(private readonly sink: LineSink) {}

  push(chunk: Buffer | string): void {
    const text = this.carry + (typeof chunk === 'string' ? chunk : this.utf8.write(chunk));
    let start = 0;
    for (let nl = text.indexOf('\n', start); nl !== -1; nl = text.indexOf('\n', start)) {
      const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      this.sink(text.slice(start, end), ++this.lineNo);
      start = nl + 1;
    }
    this.carry = start === 0 ? text : text.slice(start);
  }

  /** Flushes a last line that had no newline; returns it (with its number) so the caller can report it. */
  end(): { line: string; lineNo: number } | undefined {
    const rest = this.carry + this.utf8.end();
    this.carry = '';
    if (rest.length === 0) return undefined;
    const last = { line: rest, lineNo: ++this.lineNo };
    this.sink(last.line, last.lineNo);
    return last;
  }

  get lines(): number {
    return this.lineNo;
  }
}
