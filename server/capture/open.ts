/** Opens a capture for streaming, gunzipping when the bytes say gzip (whatever the name says). */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';

export async function openCapture(path: string): Promise<Readable> {
  const fh = await open(path, 'r');
  const magic = Buffer.alloc(2);
  try {
    await fh.read(magic, 0, 2, 0);
  } finally {
    await fh.close();
  }
  const raw = createReadStream(path, { highWaterMark: 1 << 20 });
  if (magic[0] !== 0x1f || magic[1] !== 0x8b) return raw;
  const gunzip = createGunzip({ chunkSize: 1 << 20 });
  // A truncated gzip ends with an error after the good bytes; forward it to the consumer.
  raw.on('error', (e) => gunzip.destroy(e));
  return raw.pipe(gunzip);
}
