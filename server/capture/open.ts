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

/**
 * A gzip capture may not inflate to more than MAX_INFLATE_RATIO times its compressed size, once past
 * INFLATE_RATIO_FROM bytes. Capture lines compress about 10 to 30 times; a gzip bomb, a thousand:
 * without the bound a 2.5 MB upload cost minutes of analysis. Past it, reading stops with an input
 * error (what came before is analyzed, as for a truncated gzip).
 */
export const MAX_INFLATE_RATIO = 100;
export const INFLATE_RATIO_FROM = 64 << 20;

export class InflateBoundError extends Error {}

export async function openCapture(path: string): Promise<CaptureChunks> {
  const fh = await open(path, 'r'); // fails here, not later, on a missing or unreadable file
  const magic = Buffer.alloc(2);
  try {
    await fh.read(magic, 0, 2, 0);
  } finally {
    await fh.close();
  }
  const raw = createReadStream(path, { highWaterMark: 1 << 20 });
  if (magic[0] !== 0x1f || magic[1] !== 0x8b) return inOrder(raw, (full) => (full ? raw.pause() : raw.resume()));
  // The gunzip's output is never paused (output held back inside a stream when it fails is lost, and
  // how much that was would depend on the reader's speed): backpressure goes to the file instead.
  const gunzip = createGunzip({ chunkSize: 1 << 20 });
  let readerFull = false;
  let gunzipFull = false;
  const flow = (): void => void (readerFull || gunzipFull ? raw.pause() : raw.resume());
  let packed = 0;
  let inflated = 0;
  gunzip.on('data', (c: Buffer) => {
    inflated += c.length;
    if (inflated > INFLATE_RATIO_FROM && inflated > MAX_INFLATE_RATIO * packed) {
      gunzip.destroy(
        new InflateBoundError(
          `the gzip inflates to over ${MAX_INFLATE_RATIO} times its size (${packed} bytes read ` +
            `gave ${inflated}): refused as a gzip bomb`,
        ),
      );
      raw.destroy();
    }
  });
  raw.on('data', (c: string | Buffer) => {
    packed += c.length;
    if (!gunzip.write(c)) {
      gunzipFull = true;
      flow();
    }
  });
  gunzip.on('drain', () => {
    gunzipFull = false;
    flow();
  });
  raw.on('end', () => gunzip.end());
  raw.on('error', (e) => gunzip.destroy(e));
  return inOrder(
    gunzip,
    (full) => {
      readerFull = full;
      flow();
    },
    () => raw.destroy(),
  );
}

/**
 * Every chunk a stream emits, in order, then its error if it failed. Listens from the start; asks
 * `throttle` to hold the input back while the reader is AHEAD chunks behind.
 */
function inOrder(source: Readable, throttle: (full: boolean) => void, cleanup?: () => void): CaptureChunks {
  const queue: Buffer[] = [];
  let done = false;
  let error: Error | undefined;
  let wake: (() => void) | undefined;
  let full = false;
  const setFull = (f: boolean): void => {
    if (f !== full) throttle((full = f));
  };
  source.on('data', (c: Buffer) => {
    queue.push(c);
    if (queue.length >= AHEAD) setFull(true);
    wake?.();
  });
  source.on('end', () => {
    done = true;
    wake?.();
  });
  source.on('error', (e) => {
    error = e;
    done = true;
    wake?.();
  });
  return (async function* chunks(): CaptureChunks {
    try {
      for (;;) {
        const c = queue.shift();
        if (c !== undefined) {
          if (queue.length < AHEAD / 2) setFull(false);
          yield c;
          continue;
        }
        if (done) {
          if (error !== undefined) throw error;
          return;
        }
        await new Promise<void>((r) => {
          wake = r;
        });
        wake = undefined;
      }
    } finally {
      source.destroy();
      cleanup?.();
    }
  })();
}
