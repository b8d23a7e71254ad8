/**
 * The capture library: DATA/captures/NAME.ljsonl.gz. Every name that comes from outside is checked
 * against one pattern and the resolved path must stay inside the folder: no name, however crafted,
 * reaches another file.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type { CaptureInfo } from '../protocol/wire.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.ljsonl(\.gz)?$/;

export class CaptureNameError extends Error {}

export class CaptureLibrary {
  readonly dir: string;
  /** Names being written by recordings (not to be deleted or overwritten). */
  readonly active = new Set<string>();

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  /** The file of a capture name, or a CaptureNameError. */
  path(name: unknown): string {
    if (typeof name !== 'string' || !NAME.test(name) || name.includes('..')) {
      throw new CaptureNameError('a capture name is letters, digits, . _ - and ends in .ljsonl or .ljsonl.gz');
    }
    const p = resolve(this.dir, name);
    if (!p.startsWith(this.dir + sep)) throw new CaptureNameError('a capture name must stay inside the capture folder');
    return p;
  }

  async list(): Promise<CaptureInfo[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const out: CaptureInfo[] = [];
    for (const name of names.filter((n) => NAME.test(n)).sort()) {
      const st = await stat(join(this.dir, name)).catch(() => undefined);
      if (st?.isFile()) out.push({ name, bytes: st.size, modified: st.mtime.toISOString(), recording: this.active.has(name) });
    }
    return out;
  }

  async exists(name: string): Promise<boolean> {
    return stat(this.path(name)).then((s) => s.isFile(), () => false);
  }

  async remove(name: string): Promise<boolean> {
    const p = this.path(name);
    if (this.active.has(name)) throw new CaptureNameError(`${name} is being recorded: stop the recording first`);
    if (!(await this.exists(name))) return false;
    await rm(p);
    return true;
  }

  /** Stores an upload under `name` (written aside, then renamed: a failed upload leaves nothing). */
  async store(name: string, body: Readable, maxBytes: number): Promise<CaptureInfo> {
    const p = this.path(name);
    if (this.active.has(name) || (await this.exists(name))) throw new CaptureNameError(`${name} exists already`);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${p}.upload-${process.pid}-${Date.now()}`;
    let bytes = 0;
    body.on('data', (c: Buffer) => {
      bytes += c.length;
      if (bytes > maxBytes) body.destroy(new CaptureNameError(`an upload is limited to ${maxBytes} bytes`));
    });
    try {
      await pipeline(body, createWriteStream(tmp, { flags: 'wx', mode: 0o600 }));
      await rename(tmp, p);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    const st = await stat(p);
    return { name, bytes: st.size, modified: st.mtime.toISOString(), recording: false };
  }
}

/** A name for a new recording of `host`: host and UTC time, made safe. */
export function recordingName(host: string, now: Date, prefix?: string): string {
  const stamp = now.toISOString().replace(/[:]/g, '').replace(/\..*/, '');
  const base = `${prefix ? `${prefix}-` : ''}${host}-${stamp}`.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  return `${base.slice(0, 100)}.ljsonl.gz`;
}
