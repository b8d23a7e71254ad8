/**
 * What a host's agent has sent, as received, so that a restarted server can rebuild the host's
 * analysis and resume the agent exactly where it was: the hello, then every accepted batch frame
 * (head and lines, as on the wire), appended before the batch is acknowledged.
 *
 * DATA/journal/HOST/RUN.hello.json and RUN.frames; removed when the stream ends or the host starts
 * a new run. A frame cut short by a crash is dropped on restore (the agent still has it: it was not
 * acknowledged).
 */
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { BATCH_HEAD, decodeBatchHead, type AgentHello } from '../protocol/wire.js';

/**
 * A journal past this is given up (removed): a long stream would fill the disk. A server restarted
 * after that resumes the agent all the same; what the journal no longer held is a recorded loss.
 */
export const JOURNAL_MAX_BYTES = 2 * 1024 ** 3;

export class Journal {
  private fd: number | undefined;
  private offset: number;

  private constructor(private readonly base: string, fd: number, offset: number) {
    this.fd = fd;
    this.offset = offset;
  }

  /** A new journal for a run (host and run names are checked by the ingest: [A-Za-z0-9._:-]). */
  static create(dir: string, hello: AgentHello): Journal {
    const hostDir = join(dir, hello.host);
    mkdirSync(hostDir, { recursive: true, mode: 0o700 });
    const base = join(hostDir, hello.run);
    writeFileSync(`${base}.hello.json`, JSON.stringify(hello), { mode: 0o600 });
    return new Journal(base, openSync(`${base}.frames`, 'w', 0o600), 0);
  }

  /**
   * Reads a run's journal back: its hello, and each complete frame in order (to `frame`). Returns
   * the journal, open for appending after the last complete frame, or undefined if there is none.
   */
  static restore(dir: string, host: string, run: string, frame: (seq: number, lines: Uint8Array) => void): { journal: Journal; hello: AgentHello } | undefined {
    const base = join(dir, host, run);
    if (!existsSync(`${base}.hello.json`) || !existsSync(`${base}.frames`)) return undefined;
    const hello = JSON.parse(readFileSync(`${base}.hello.json`, 'utf8')) as AgentHello;
    const fd = openSync(`${base}.frames`, 'r+');
    const head = Buffer.alloc(BATCH_HEAD + 4); // the frame's head, then the payload size (see append)
    let offset = 0;
    for (;;) {
      if (readSync(fd, head, 0, head.length, offset) < head.length) break;
      const h = decodeBatchHead(head.subarray(0, BATCH_HEAD));
      if (typeof h === 'string') break;
      const size = head.readUInt32LE(BATCH_HEAD);
      const body = Buffer.allocUnsafe(size);
      if (readSync(fd, body, 0, size, offset + head.length) < size) break;
      frame(h.seq, body);
      offset += head.length + size;
    }
    ftruncateSync(fd, offset); // a frame cut short by a crash is gone; appends go after the last whole one
    return { journal: new Journal(base, fd, offset), hello };
  }

  /** Appends a frame: its 16-byte head, the payload size (u32 LE), then the payload. */
  append(head: Uint8Array, lines: Uint8Array): void {
    if (this.fd === undefined) return;
    if (this.offset + head.byteLength + 4 + lines.byteLength > JOURNAL_MAX_BYTES) {
      this.remove(); // given up for its size
      return;
    }
    const size = Buffer.alloc(4);
    size.writeUInt32LE(lines.byteLength, 0);
    for (const part of [head, size, lines]) {
      writeSync(this.fd, part, 0, part.byteLength, this.offset);
      this.offset += part.byteLength;
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  /** The stream is over (ended, or replaced by a new run): the journal is not needed any more. */
  remove(): void {
    this.close();
    rmSync(`${this.base}.frames`, { force: true });
    rmSync(`${this.base}.hello.json`, { force: true });
  }
}
