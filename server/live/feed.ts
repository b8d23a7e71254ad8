/** The browser socket: the hub's feed out; in, only a request for a fresh snapshot. */
import type { WebSocket } from 'ws';
import type { Hub } from './hub.js';

export function handleBrowser(ws: WebSocket, hub: Hub): void {
  const client = {
    send: (data: string): void => {
      if (ws.readyState === ws.OPEN) ws.send(data);
    },
    get bufferedAmount(): number {
      return ws.bufferedAmount;
    },
  };
  const remove = hub.addFeed(client);
  let lastSnapshot = 0;
  ws.on('message', (data, isBinary) => {
    let ok = false;
    if (!isBinary) {
      try {
        ok = (JSON.parse(String(data)) as { type?: unknown }).type === 'snapshot';
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
  });
  ws.on('close', remove);
  ws.on('error', (e: Error & { code?: string }) => {
    hub.reject(e.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'feed-oversized-frame' : 'feed-socket-error');
    ws.terminate();
  });
}
