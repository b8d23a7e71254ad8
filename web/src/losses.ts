/**
 * Where events were lost, in each host's kernel time: a strip from 0 to the host's newest event
 * with every loss window in red, and the latest windows listed.
 */
import type { HostView, LossMark } from '../../server/shared/wire.js';
import { h, s } from './dom.js';
import { formatCount, formatSeconds } from './format.js';

export interface LossesWidget {
  render(hosts: HostView[], losses: Map<string, LossMark[]>, host: string | null): void;
}

const W = 600;
const H = 14;

function window(l: LossMark): string {
  if (l.start_s === null && l.end_s === null) return 'time unknown';
  if (l.start_s === null) return `before ${formatSeconds(l.end_s)}`;
  if (l.end_s === null) return `after ${formatSeconds(l.start_s)}`;
  return `${formatSeconds(l.start_s)} – ${formatSeconds(l.end_s)}`;
}

export function createLosses(root: HTMLElement): LossesWidget {
  let last = '';
  return {
    render(hosts, losses, host) {
      const shown = hosts.filter((v) => host === null || v.host === host).sort((a, b) => a.host.localeCompare(b.host));
      const key = JSON.stringify(shown.map((v) => [v.host, v.now_s, v.lost, losses.get(v.host)?.length ?? 0]));
      if (key === last) return;
      last = key;
      const rows = shown.map((v) => {
        const marks = losses.get(v.host) ?? [];
        const end = Math.max(v.now_s, ...marks.map((l) => l.end_s ?? l.start_s ?? 0), 1e-3);
        const x = (t: number): number => Math.max(0, Math.min(W, (t / end) * W));
        const strip = s(
          'svg',
          {
            class: 'loss-strip',
            viewBox: `0 0 ${W} ${H}`,
            preserveAspectRatio: 'none',
            role: 'img',
            'aria-label': `lost events of ${v.host} over its kernel time`,
          },
          s('rect', { x: 0, y: 0, width: W, height: H, class: 'loss-bg' }),
          ...marks.map((l) => {
            const a = x(l.start_s ?? l.end_s ?? 0);
            const b = x(l.end_s ?? l.start_s ?? end);
            return s(
              'rect',
              { x: a, y: 0, width: Math.max(2, b - a), height: H, class: 'loss-mark', 'data-testid': 'loss-mark' },
              s(
                'title',
                {},
                l.reason !== null
                  ? `probes not running ${window(l)}: ${l.reason} (capture line ${l.line})`
                  : `${formatCount(l.count)} lost, ${window(l)} (capture line ${l.line})`,
              ),
            );
          }),
        );
        const total = v.lost;
        const gaps = marks.filter((l) => l.reason !== null).length;
        const latest = marks.slice(-3).reverse();
        return h(
          'div',
          { class: 'loss-row', 'data-host': v.host },
          h('span', { class: 'loss-host' }, v.host),
          strip,
          h(
            'span',
            { class: `loss-text${total > 0 ? ' lost' : ''}` },
            total === 0 && gaps === 0
              ? 'no lost events'
              : `${formatCount(total)} lost in ${marks.length} window(s)${gaps ? ` (${gaps} with the probes down)` : ''}${latest.length ? `: ${latest.map((l) => `${l.reason !== null ? 'probes down' : formatCount(l.count)} @ ${window(l)}`).join('; ')}` : ''}`,
          ),
        );
      });
      root.replaceChildren(...(rows.length ? rows : [h('div', { class: 'empty' }, 'no hosts')]));
    },
  };
}
