/**
 * The browser socket: the hub's feed out; in, only a request for a fresh snapshot.
 *
 * What is queued to one browser is bounded: the hub skips a browser that falls behind (and sends it
 * a snapshot once it has drained), but a client that never reads would still be sent what it asks
 * for. Past FEED_QUEUE_BYTES queued, it is dropped and counted (`feed-client-dropped`).
 */
import type { WebSocket } from 'ws';
import type { FeedClient, Hub } from './hub.js';
import { boundedSender } from './send-queue.js';

/** Most bytes queued (not yet taken by the client's TCP stack) to one browser before it is dropped. */
export const FEED_QUEUE_BYTES = 16 << 20;
/** Most browser feeds at once (a tab each): with FEED_QUEUE_BYTES, what all of them can hold is bounded too. */
export const MAX_FEEDS = 64;

export function handleBrowser(ws: WebSocket, hub: Hub, queueBytes = FEED_QUEUE_BYTES): void {
  // A browser that comes back after being dropped starts over with a snapshot.
  const out = boundedSender(ws, queueBytes, () => hub.reject('feed-client-dropped'));
  const client: FeedClient = {
    send: (data: string): void => void out.send(data),
    get bufferedAmount(): number {
      return ws.bufferedAmount;
    },
  };
  // Whatever goes wrong serving one browser ends its socket, never the process.
  const guarded = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (e) {
      process.stderr.write(`lifetrace: feed ${what}: ${(e as Error).stack ?? String(e)}\n`);
      hub.reject('feed-internal-error');
      ws.terminate();
    }
  };
  let remove = (): void => {};
  guarded('snapshot', () => {
    remove = hub.addFeed(client);
  });
  let lastSnapshot = 0;
  ws.on('message', (data, isBinary) =>
    guarded('message', () => {
      let ok = false;
      if (!isBinary) {
        try {
          ok = (JSON.parse(String(data)) as { type?: unknown } | null)?.type === 'snapshot';
        } catch {
          ok = false;
        }
      }
      if (!ok) {
        hub.reject('feed-bad-message');
        ws.close(1008, 'the feed accepts only {"type":"snapshot"}');
        return;
      }
      // A snapshot costs the server work: one per second per browser is plenty.
      const now = Date.now();
      if (now - lastSnapshot < 1000) return hub.reject('feed-snapshot-flood');
      lastSnapshot = now;
      hub.resnapshot(client);
    }),
  );
  ws.on('close', () => remove());
  ws.on('error', (e: Error & { code?: string }) => {
    hub.reject(e.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'feed-oversized-frame' : 'feed-socket-error');
    ws.terminate();
  });
}
