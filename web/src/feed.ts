/**
 * The feed socket: connects to FEED_PATH on the page's own host, parses FeedMessages, reconnects
 * with backoff (each new connection starts with a snapshot from the server).
 */
import { FEED_PATH, type BrowserMessage, type FeedMessage } from '../../server/shared/wire.js';
import { RECONNECT_MAX_MS, RECONNECT_MIN_MS } from './config.js';

export type FeedStatus = { state: 'connecting' } | { state: 'open' } | { state: 'closed'; retryInMs: number };

export interface Feed {
  /** Asks the server for a fresh snapshot (after a pause); false when the socket is not open. */
  requestSnapshot(): boolean;
  /** Messages the page could not read (counted, shown in the status). */
  readonly bad: number;
}

const FEED_TYPES = new Set(['snapshot', 'stats', 'flags', 'losses']);

export function connectFeed(onMessage: (m: FeedMessage) => void, onStatus: (s: FeedStatus) => void): Feed {
  const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${FEED_PATH}`;
  let ws: WebSocket | null = null;
  let delay = RECONNECT_MIN_MS;
  let bad = 0;

  const open = (): void => {
    onStatus({ state: 'connecting' });
    const sock = new WebSocket(url);
    ws = sock;
    sock.addEventListener('open', () => {
      delay = RECONNECT_MIN_MS;
      onStatus({ state: 'open' });
    });
    sock.addEventListener('message', (ev) => {
      if (typeof ev.data !== 'string') return void bad++;
      let m: unknown;
      try {
        m = JSON.parse(ev.data);
      } catch {
        return void bad++;
      }
      if (!m || typeof m !== 'object' || !FEED_TYPES.has(String((m as { type?: unknown }).type))) return void bad++;
      onMessage(m as FeedMessage);
    });
    sock.addEventListener('close', () => {
      if (ws !== sock) return;
      ws = null;
      const wait = Math.round(delay * (0.75 + Math.random() * 0.5));
      delay = Math.min(delay * 2, RECONNECT_MAX_MS);
      onStatus({ state: 'closed', retryInMs: wait });
      setTimeout(open, wait);
    });
  };
  open();

  return {
    requestSnapshot() {
      if (!ws || ws.readyState !== WebSocket.OPEN) return false;
      const msg: BrowserMessage = { type: 'snapshot' };
      ws.send(JSON.stringify(msg));
      return true;
    },
    get bad() {
      return bad;
    },
  };
}
