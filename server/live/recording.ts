/**
 * Recording a host's live stream into the capture library: the header, then the raw lines as they
 * arrive, gzip. A write failure (a full disk) stops the recording with its reason, also in the
 * server's storage state (/api/server); the live view never depends on it. The file is created new
 * (O_EXCL: a symbolic link in its place is not followed).
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { createGzip, type Gzip } from 'node:zlib';
import type { RecordingView } from '../shared/wire.js';
import type { StorageState } from './storage.js';

export class Recording {
  private readonly gzip: Gzip;
  private readonly file: WriteStream;
  private error: string | null = null;
  private bytes = 0;
  private readonly closed: Promise<void>;
  readonly started = Date.now();

  constructor(
    readonly name: string,
    path: string,
    headerLine: string,
    storage: StorageState,
  ) {
    this.file = createWriteStream(path, { flags: 'wx', mode: 0o600 });
    this.gzip = createGzip();
    this.gzip.pipe(this.file);
    this.closed = new Promise((resolve) => {
      this.file.on('close', resolve);
      this.file.on('error', (e) => {
        this.error ??= storage.failed('recording-stopped', 'recording', e);
        this.gzip.unpipe(this.file);
        this.gzip.destroy();
        resolve();
      });
    });
    this.write(Buffer.from(`${headerLine}\n`));
  }

  get failed(): boolean {
    return this.error !== null;
  }

  write(lines: Uint8Array): void {
    if (this.error !== null) return;
    this.bytes += lines.byteLength;
    this.gzip.write(lines);
  }

  async stop(): Promise<void> {
    if (this.error === null) this.gzip.end();
    await this.closed;
  }

  view(): RecordingView {
    return { name: this.name, started: this.started, bytes: this.bytes, error: this.error };
  }
}
