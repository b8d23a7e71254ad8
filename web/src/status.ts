/** The header controls: the feed connection indicator, a fleet dashboard's broker, and the pause / resume button. */
import type { FleetView } from '../../server/shared/wire.js';
import { h } from './dom.js';
import type { FeedStatus } from './feed.js';

export interface StatusWidget {
  setFeed(s: FeedStatus, bad: number): void;
  /** A fleet dashboard (`serve --nats`): where its hosts come from, and whether it reaches the broker. */
  setFleet(f: FleetView | null): void;
  readonly paused: boolean;
}

export function createStatus(root: HTMLElement, onPause: (paused: boolean) => void): StatusWidget {
  const feed = h('span', { class: 'feed-status', 'data-testid': 'feed-status', 'data-state': 'connecting' }, 'connecting…');
  const fleet = h('span', { class: 'fleet-status', 'data-testid': 'fleet-status', hidden: true });
  const pause = h('button', { type: 'button', class: 'pause', 'data-testid': 'pause-button', 'aria-pressed': 'false' }, 'Pause');
  const note = h('span', { class: 'paused-note', 'data-testid': 'paused-note', hidden: true }, 'paused: the view is frozen');
  let paused = false;
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.textContent = paused ? 'Resume' : 'Pause';
    pause.setAttribute('aria-pressed', String(paused));
    note.hidden = !paused;
    document.body.classList.toggle('is-paused', paused);
    onPause(paused);
  });
  root.replaceChildren(note, fleet, feed, pause);
  return {
    setFeed(s, bad) {
      feed.dataset.state = s.state;
      const extra = bad > 0 ? ` (${bad} unreadable messages)` : '';
      feed.textContent =
        s.state === 'open'
          ? `feed connected${extra}`
          : s.state === 'connecting'
            ? 'connecting…'
            : `feed disconnected, retrying in ${(s.retryInMs / 1000).toFixed(1)} s`;
    },
    setFleet(f) {
      fleet.hidden = f === null;
      if (f === null) return;
      fleet.dataset.state = f.connected ? 'connected' : 'disconnected';
      fleet.title = `${f.hosts} hosts, ${f.resultsRead} results read from the broker${f.badMessages > 0 ? `, ${f.badMessages} malformed` : ''}`;
      fleet.textContent = `fleet via NATS ${f.url}${f.connected ? '' : ': broker unreachable, reconnecting'}`;
    },
    get paused() {
      return paused;
    },
  };
}
