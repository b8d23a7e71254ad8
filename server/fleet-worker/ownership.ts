/**
 * Which live worker should own each host: rendezvous (highest random weight) hashing of the host
 * name over the live workers, with bounded loads: no worker gets more than ceil(hosts / workers), a
 * host going to the next worker of its ranking when its first is full. Every worker computes the
 * same assignment from the same hosts and workers. A worker joining or leaving moves about the hosts
 * it gains or had; a host appearing can move a few others (the bound), each then replayed by its
 * new owner: the price of an even share (plain hashing leaves 16 hosts split 11 to 5 as often as not).
 */
import { createHash } from 'node:crypto';

function weight(worker: string, host: string): bigint {
  return createHash('sha256').update(worker).update('\0').update(host).digest().readBigUInt64BE(0);
}

/** The worker of each host (none when no worker is live). */
export function assign(hosts: readonly string[], workers: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  if (workers.length === 0) return out;
  const cap = Math.ceil(hosts.length / workers.length);
  const load = new Map(workers.map((w) => [w, 0]));
  for (const host of [...new Set(hosts)].sort()) {
    const ranked = workers
      .map((w) => ({ w, x: weight(w, host) }))
      .sort((a, b) => (a.x === b.x ? (a.w < b.w ? -1 : 1) : a.x > b.x ? -1 : 1));
    const w = ranked.find((r) => load.get(r.w)! < cap)!.w;
    load.set(w, load.get(w)! + 1);
    out.set(host, w);
  }
  return out;
}
