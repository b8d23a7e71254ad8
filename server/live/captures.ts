/**
 * The capture library: DATA/captures/NAME.ljsonl.gz. Every name from outside becomes a path through
 * names.ts only; a symbolic link in the folder is never followed (not listed, read, replayed or
 * deleted through); an upload is created new, never over a capture, even by a simultaneous upload.
 */
import { randomBytes } from 'node:crypto';
import { constants, createWriteStream, readdirSync, rmSync, type ReadStream } from 'node:fs';
import { link, lstat, mkdir, open, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type { CaptureInfo } from '../shared/wire.js';
import { err, ok, type Result } from '../support/result.js';
import { HttpError } from './http-error.js';
import { nameProblem, NameError, pathIn } from './names.js';
import { writeFailure, type StorageState } from './storage.js';

/** An upload being written aside (see store). */
const UPLOAD_ASIDE = /\.ljsonl(\.gz)?\.upload-[0-9a-f]{16}$/;

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export class CaptureLibrary {
  readonly dir: string;
  /** Names being written by recordings (not to be deleted or overwritten). */
  readonly active = new Set<string>();
  /** Names being uploaded: a second upload of one of them is refused at once. */
  private readonly uploading = new Set<string>();

  constructor(
    dir: string,
    private readonly storage: StorageState,
  ) {
    this.dir = resolve(dir);
    // Uploads cut short by a crash of an earlier server: nothing else would ever remove them.
    for (const e of safeList(this.dir)) if (UPLOAD_ASIDE.test(e)) rmSync(join(this.dir, e), { force: true });
  }

  /** The file of a capture name, or why the name is refused. */
  pathOf(name: unknown): Result<string> {
    try {
      return ok(pathIn(this.dir, 'capture', name));
    } catch (e) {
      if (e instanceof NameError) return err(e.message);
      throw e;
    }
  }

  /** The file of a capture name from a request (a refused name answers 400). */
  path(name: unknown): string {
    const p = this.pathOf(name);
    if (!p.ok) throw badName(p.error);
    return p.value;
  }

  async list(): Promise<CaptureInfo[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const out: CaptureInfo[] = [];
    for (const name of names.filter((n) => nameProblem('capture', n) === undefined).sort()) {
      const st = await lstat(this.path(name)).catch(() => undefined);
      if (st?.isFile()) out.push({ name, bytes: st.size, modified: st.mtime.toISOString(), recording: this.active.has(name) });
    }
    return out;
  }

  /** Whether `name` is a capture: a regular file (a symbolic link is not one). */
  async exists(name: string): Promise<boolean> {
    return lstat(this.path(name)).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  /** A capture's bytes, opened without following a link; undefined when there is no such capture. */
  async read(name: string): Promise<ReadStream | undefined> {
    const file = await open(this.path(name), constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => undefined);
    if (file === undefined) return undefined;
    if (!(await file.stat()).isFile()) {
      await file.close();
      return undefined;
    }
    return file.createReadStream(); // the stream owns the handle (and closes it)
  }

  async remove(name: string): Promise<boolean> {
    const p = this.path(name);
    if (this.active.has(name)) throw badName(`${name} is being recorded: stop the recording first`);
    if (!(await this.exists(name))) return false;
    await rm(p);
    return true;
  }

  /**
   * Stores an upload under `name`: written aside, then linked to its name, which fails if the name
   * exists by then (create-new: of two uploads of one name, one gets 201 and the other 409). A failed
   * upload leaves nothing; a full disk answers 507.
   */
  async store(name: string, body: Readable, maxBytes: number): Promise<CaptureInfo> {
    const p = this.path(name);
    const onDisk = await lstat(p).then(
      () => true,
      () => false,
    );
    // Checked after the await, and taken before the next one: no other upload of the name slips in between.
    if (onDisk || this.active.has(name) || this.uploading.has(name)) {
      this.storage.count('upload-exists');
      throw new HttpError(409, `${name} exists already`);
    }
    this.uploading.add(name);
    const tmp = `${p}.upload-${randomBytes(8).toString('hex')}`; // matches UPLOAD_ASIDE
    let linking = false;
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      let bytes = 0;
      body.on('data', (c: Buffer) => {
        // from here on the body flows: the pipeline must be set up at once
        bytes += c.length;
        if (bytes > maxBytes) body.destroy(badName(`an upload is limited to ${maxBytes} bytes`));
      });
      await pipeline(body, createWriteStream(tmp, { flags: 'wx', mode: 0o600 }));
      linking = true;
      await link(tmp, p); // fails if the name exists by now: never over a capture
    } catch (e) {
      throw this.refusal(name, e, linking);
    } finally {
      this.uploading.delete(name);
      await rm(tmp, { force: true });
    }
    this.storage.recovered();
    const st = await lstat(p);
    return { name, bytes: st.size, modified: st.mtime.toISOString(), recording: false };
  }

  /** What a failed upload answers. */
  private refusal(name: string, e: unknown, linking: boolean): unknown {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && linking) {
      this.storage.count('upload-exists');
      return new HttpError(409, `${name} exists already`);
    }
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      this.storage.failed('upload-disk-full', `the upload of ${name}`, e);
      return new HttpError(507, `the upload of ${name} failed: ${writeFailure(e)} (nothing was kept)`);
    }
    return e;
  }
}

/** A capture name (or upload) refused: 400, counted as `bad-capture-name`. */
const badName = (message: string): HttpError => new HttpError(400, message, 'bad-capture-name');

/** A name for a new recording of `host`: host and UTC time, made safe. */
export function recordingName(host: string, now: Date, prefix?: string): string {
  const stamp = now.toISOString().replace(/[:]/g, '').replace(/\..*/, '');
  const base = `${prefix ? `${prefix}-` : ''}${host}-${stamp}`.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  return `${base.slice(0, 100)}.ljsonl.gz`;
}
