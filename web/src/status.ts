/** The header controls: the feed connection indicator and the pause / resume button. */
import { h } from './dom.js';
import type { FeedStatus } from './feed.js';

export interface StatusWidget {
  setFeed(s: FeedStatus, bad: number): void;
  readonly paused: boolean;
}

export function createStatus(root: HTMLElement, onPause: (paused: boolean) => void): StatusWidget {
  const feed = h('span', { class: 'feed-status', 'data-testid': 'feed-status', 'data-state': 'connecting' }, 'connecting…');
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
  root.replaceChildren(note, feed, pause);
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
    get paused() {
      return paused;
    },
  };
}
