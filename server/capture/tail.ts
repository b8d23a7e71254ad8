/** Follows a file that another process appends lines to (bpftrace's -o file, a guest's capture). */
import type { FileHandle } from 'node:fs/promises';

/** Reads the lines appended to a file since the last call. */
export class Tail {
  private offset = 0;
  private carry = '';
  private readonly buf = Buffer.alloc(1 << 20);

  constructor(private readonly fh: FileHandle, private readonly onLine: (line: string) => void) {}

  async drain(): Promise<void> {
    for (;;) {
      const { bytesRead } = await this.fh.read(this.buf, 0, this.buf.length, this.offset);
      if (bytesRead === 0) return;
      this.offset += bytesRead;
      const text = this.carry + this.buf.toString('utf8', 0, bytesRead);
      let start = 0;
      for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
        this.onLine(text.slice(start, nl));
        start = nl + 1;
      }
      this.carry = text.slice(start);
    }
  }

  /** The last line, if bpftrace ended without a newline. */
  flush(): void {
    if (this.carry.length > 0) this.onLine(this.carry);
    this.carry = '';
  }
}
