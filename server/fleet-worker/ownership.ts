/**
 * Which live worker should own a host: rendezvous (highest random weight) hashing of the host name
 * over the live workers. Every worker computes the same answer from the same membership, and a
 * worker joining or leaving moves only the hosts it gains or had (about 1/N of them).
 */
import { createHash } from 'node:crypto';

function weight(worker: string, host: string): bigint {
  return createHash('sha256').update(worker).update('\0').update(host).digest().readBigUInt64BE(0);
}

/** The worker that should own `host` (undefined when none is live). */
export function ownerOf(host: string, workers: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1n;
  for (const w of workers) {
    const x = weight(w, host);
    if (x > bestWeight || (x === bestWeight && best !== undefined && w < best)) {
      best = w;
      bestWeight = x;
    }
  }
  return best;
}
