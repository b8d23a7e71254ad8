/**
 * What the server queues to one socket is bounded. A peer that does not read (a stalled browser, an
 * agent that never takes its acks) would otherwise make the server hold everything sent to it: past
 * the bound the peer is dropped, once, and counted by the caller's reason.
 */
import type { WebSocket } from 'ws';

export interface BoundedSender {
  /** Sends, or drops the peer when `data` would take its queue past the bound; false once dropped. */
  send(data: string): boolean;
  readonly dropped: boolean;
}

export function boundedSender(ws: WebSocket, maxQueued: number, onDrop: () => void): BoundedSender {
  let dropped = false;
  return {
    send(data: string): boolean {
      if (dropped || ws.readyState !== ws.OPEN) return !dropped;
      if (ws.bufferedAmount + Buffer.byteLength(data) > maxQueued) {
        dropped = true;
        onDrop();
        ws.terminate(); // frees what is queued
        return false;
      }
      ws.send(data);
      return true;
    },
    get dropped(): boolean {
      return dropped;
    },
  };
}
