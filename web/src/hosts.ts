/**
 * Host status: one card per host (connected / disconnected / ended / failed, live or replay, kernel, events,
 * lost events, kernel time), and a banner naming every replayed stream so a replay is never taken
 * for a live kernel.
 */
import type { HostView } from '../../server/shared/wire.js';
import { h } from './dom.js';
import { formatCount, formatSeconds } from './format.js';

export interface HostsWidget {
  render(hosts: HostView[], selected: string | null): void;
}

/** `failed`: the analysis of this host stopped (its worker thread died); the reason is on the card. */
export function hostState(v: HostView): 'connected' | 'disconnected' | 'ended' | 'failed' {
  return v.failed !== null ? 'failed' : v.ended ? 'ended' : v.connected ? 'connected' : 'disconnected';
}

export function createHosts(strip: HTMLElement, banner: HTMLElement, onPick: (host: string) => void): HostsWidget {
  let last = '';
  return {
    render(hosts, selected) {
      const sorted = [...hosts].sort((a, b) => a.host.localeCompare(b.host));
      const key = JSON.stringify([sorted, selected]);
      if (key === last) return;
      last = key;

      const replays = sorted.filter((v) => v.mode === 'replay');
      banner.hidden = replays.length === 0;
      banner.replaceChildren(
        h('strong', {}, 'REPLAY'),
        ' — not a live kernel: ',
        ...replays.flatMap((v, i) => [
          i > 0 ? ', ' : '',
          h('span', { 'data-testid': 'replay-label', 'data-host': v.host }, `${v.host}: ${v.label ?? 'replayed capture'}`),
        ]),
      );

      if (sorted.length === 0) {
        strip.replaceChildren(
          h(
            'div',
            { class: 'empty', 'data-testid': 'no-hosts' },
            'No host has connected yet. Start an agent: lifetrace agent --server URL --token T',
          ),
        );
        return;
      }
      strip.replaceChildren(
        ...sorted.map((v) => {
          const state = hostState(v);
          return h(
            'button',
            {
              type: 'button',
              class: `host-card ${state}${selected === v.host ? ' selected' : ''}`,
              'data-testid': 'host-status',
              'data-host': v.host,
              'data-state': state,
              'data-mode': v.mode,
              title: `${v.kernel}\nfamilies: ${v.families.join(', ')}\nrun ${v.run}${v.anomalies ? `\n${v.anomalies} bad lines` : ''}${v.duplicates ? `\n${v.duplicates} duplicate batches` : ''}\nclick: filter by this host`,
              onclick: () => onPick(v.host),
            },
            h('span', { class: 'host-name' }, v.host),
            h('span', { class: `badge state-${state}`, title: v.failed ?? '' }, state),
            v.failed !== null ? h('span', { class: 'host-failed', 'data-testid': 'host-failed' }, v.failed) : '',
            h(
              'span',
              { class: `badge mode-${v.mode}`, title: v.label ?? '' },
              v.mode === 'replay' ? `replay${v.label ? `: ${v.label}` : ''}` : 'live',
            ),
            h('span', { class: 'host-kernel' }, v.kernel),
            h('span', { class: 'host-num' }, `${formatCount(v.events)} ev`),
            h('span', { class: `host-num${v.lost > 0 ? ' lost' : ''}`, 'data-testid': 'host-lost' }, `${formatCount(v.lost)} lost`),
            h('span', { class: 'host-num' }, `t ${formatSeconds(v.now_s)}`),
            // A journal that stopped (a full disk): the live view goes on, a restarted server resumes only up to there.
            v.journal?.error
              ? h('span', { class: 'badge journal-stopped', 'data-testid': 'journal-error', title: v.journal.error }, v.journal.error)
              : '',
          );
        }),
      );
    },
  };
}
