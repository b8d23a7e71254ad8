/** Follows a file that another process appends lines to (bpftrace's -o file, a guest's capture). */
import type { FileHandle } from 'node:fs/promises';
import { LineSplitter, type LineSink } from './lines.js';

/**
 * Reads the lines appended to a file since the last call. The file is our own bpftrace's output and a
 * capture keeps its lines exactly as emitted: no line is too long to record (the analysis bounds them
 * when it reads the capture), but a long one is joined in linear time, as every reader joins it.
 * The sink says what a line becomes: its bytes (`byteLines`: a capture's records, sent on as they
 * are) or text (`textLines`: a job's log).
 */
export class Tail {
  private offset = 0;
  private readonly buf = Buffer.alloc(1 << 20);
  private readonly split: LineSplitter;

  constructor(
    private readonly fh: FileHandle,
    sink: LineSink,
  ) {
    this.split = new LineSplitter(sink, undefined, undefined, Infinity);
  }

  async drain(): Promise<void> {
    for (;;) {
      const { bytesRead } = await this.fh.read(this.buf, 0, this.buf.length, this.offset);
      if (bytesRead === 0) return;
      this.offset += bytesRead;
      // The splitter copies what it keeps: the read buffer is reused.
      this.split.push(this.buf.subarray(0, bytesRead));
    }
  }

  /** The last line, if bpftrace ended without a newline. */
  flush(): void {
    this.split.end();
  }
}
