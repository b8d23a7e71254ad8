/**
 * Opens a capture for streaming, gunzipping when the bytes say gzip (whatever the name says).
 *
 * The chunks come from an async generator, not a Readable: a truncated gzip raises its error only
 * after every byte before the break has been handed over. (A Readable destroyed by that error
 * drops what its buffer still holds, so how much of a truncated capture was read depended on how
 * fast the reader read it.)
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';

export type CaptureChunks = AsyncGenerator<Buffer, void, undefined>;

/** Chunks buffered ahead of the reader before the source is paused. */
const AHEAD = 8;

export async function openCapture(path: string): Promise<CaptureChunks> {
  const fh = await open(path, 'r'); // fails here, not later, on a missing or unreadable file
  const magic = Buffer.alloc(2);
  try {
    await fh.read(magic, 0, 2, 0);
  } finally {
    await fh.close();
  }
  const raw = createReadStream(path, { highWaterMark: 1 << 20 });
  if (magic[0] !== 0x1f || magic[1] !== 0x8b) return inOrder(raw);
  const gunzip = createGunzip({ chunkSize: 1 << 20 });
  raw.on('error', (e) => gunzip.destroy(e));
  return inOrder(raw.pipe(gunzip), () => raw.destroy());
}

/** Every chunk a stream emits, in order, then its error if it failed. Listens from the start. */
function inOrder(source: Readable, cleanup?: () => void): CaptureChunks {
  const queue: Buffer[] = [];
  let done = false;
  let error: Error | undefined;
  let wake: (() => void) | undefined;
  source.pause();
  source.on('data', (c: Buffer) => {
    queue.push(c);
    if (queue.length >= AHEAD) source.pause();
    wake?.();
  });
  source.on('end', () => { done = true; wake?.(); });
  source.on('error', (e) => { error = e; done = true; wake?.(); });
  return (async function* chunks(): CaptureChunks {
    try {
      for (;;) {
        const c = queue.shift();
        if (c !== undefined) {
          if (queue.length < AHEAD / 2 && source.isPaused() && !done) source.resume();
          yield c;
          continue;
        }
        if (done) {
          if (error !== undefined) throw error;
          return;
        }
        if (source.isPaused()) source.resume();
        await new Promise<void>((r) => { wake = r; });
        wake = undefined;
      }
    } finally {
      source.destroy();
      cleanup?.();
    }
  })();
}
