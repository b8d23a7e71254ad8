/**
 * Object lifetimes drawn as an SVG timeline: one lane per generation (born or first seen ->
 * freed or last seen), its phases as ticks with their times and tasks, and evidence events as
 * numbered marks across all lanes. Below it, every lane's phases as a table.
 */
import type { EvidenceView, LifetimeView, ObjectHistory } from '../../server/shared/wire.js';
import { h, s } from './dom.js';
import { formatAddr, formatSeconds } from './format.js';

const W = 900;
const GUTTER = 200;
const RIGHT = 16;
const LANE = 30;
const TOP = 22;
const AXIS = 24;
const MAX_LANES = 40;

export interface Lane {
  host: string;
  life: LifetimeView;
}

/** The first and last time the picture must show, padded; pure. */
export function timeRange(lanes: readonly Lane[], marks: readonly EvidenceView[]): [number, number] {
  const ts: number[] = [];
  for (const { life } of lanes) {
    ts.push(life.born_s ?? life.first_s, life.freed_s ?? life.last_s);
    for (const p of life.phases) ts.push(p.t_s);
  }
  for (const m of marks) ts.push(m.t_s);
  const finite = ts.filter(Number.isFinite);
  if (finite.length === 0) return [0, 1];
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (hi - lo < 1e-6) {
    lo -= 0.0005;
    hi += 0.0005;
  }
  const pad = (hi - lo) * 0.04;
  return [lo - pad, hi + pad];
}

/** Round tick values for the axis (about n of them). */
export function ticks(lo: number, hi: number, n = 6): number[] {
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((x) => x >= raw) ?? raw;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) out.push(Number(t.toFixed(9)));
  return out;
}

function task(pid: number | null, comm: string | null): string {
  return pid === null && comm === null ? '' : `${comm ?? '?'}[${pid ?? '?'}]`;
}

export function lanesOf(histories: readonly ObjectHistory[]): Lane[] {
  return histories
    .flatMap((o) => o.lifetimes.map((life) => ({ host: o.host, life })))
    .sort((a, b) => (a.life.born_s ?? a.life.first_s) - (b.life.born_s ?? b.life.first_s));
}

export function renderTimeline(histories: readonly ObjectHistory[], marks: readonly EvidenceView[] = []): HTMLElement {
  const all = lanesOf(histories);
  const lanes = all.slice(0, MAX_LANES);
  if (lanes.length === 0) return h('div', { class: 'empty', 'data-testid': 'timeline' }, 'No lifetime recorded for these objects.');
  const [lo, hi] = timeRange(lanes, marks);
  const x = (t: number): number => GUTTER + ((t - lo) / (hi - lo)) * (W - GUTTER - RIGHT);
  const height = TOP + lanes.length * LANE + AXIS;

  const svg = s('svg', {
    class: 'timeline',
    viewBox: `0 0 ${W} ${height}`,
    width: '100%',
    role: 'img',
    'aria-label': 'object lifetimes',
    'data-testid': 'timeline',
  });

  for (const t of ticks(lo, hi)) {
    svg.append(
      s('line', { x1: x(t), x2: x(t), y1: TOP - 4, y2: height - AXIS + 4, class: 'tl-grid' }),
      s('text', { x: x(t), y: height - 8, class: 'tl-axis', 'text-anchor': 'middle' }, `${t.toFixed(3)}`),
    );
  }
  svg.append(s('text', { x: GUTTER - 8, y: height - 8, class: 'tl-axis', 'text-anchor': 'end' }, 'kernel time (s)'));

  lanes.forEach(({ host, life }, i) => {
    const y = TOP + i * LANE + LANE / 2;
    const start = life.born_s ?? life.first_s;
    const end = life.freed_s ?? life.last_s;
    const g = s('g', {
      class: `tl-lane ${life.state}`,
      'data-testid': 'timeline-lane',
      'data-addr': formatAddr(life.addr),
      'data-gen': life.gen,
    });
    g.append(
      s('text', { x: 4, y: y + 4, class: 'tl-label' }, `${life.kind} ${formatAddr(life.addr)} #${life.gen}`),
      s('title', {}, `${host}: ${life.kind} ${formatAddr(life.addr)} generation ${life.gen}, ${life.state}, ${life.uses} uses`),
    );
    if (life.born_s === null) {
      // Existed before the trace (or births are not probed): a dashed lead-in to the first sighting.
      g.append(s('line', { x1: x(lo), x2: x(start), y1: y, y2: y, class: 'tl-before' }));
    }
    g.append(s('rect', { x: x(start), y: y - 5, width: Math.max(2, x(end) - x(start)), height: 10, rx: 2, class: `tl-bar ${life.state}` }));
    if (life.born_s !== null)
      g.append(
        s(
          'line',
          { x1: x(life.born_s), x2: x(life.born_s), y1: y - 8, y2: y + 8, class: 'tl-born' },
          s('title', {}, `born ${formatSeconds(life.born_s)}`),
        ),
      );
    if (life.freed_s !== null) {
      const fx = x(life.freed_s);
      g.append(
        s(
          'path',
          { d: `M${fx - 5} ${y - 5} L${fx + 5} ${y + 5} M${fx - 5} ${y + 5} L${fx + 5} ${y - 5}`, class: 'tl-freed' },
          s('title', {}, `freed ${formatSeconds(life.freed_s)}`),
        ),
      );
    } else {
      g.append(
        s(
          'path',
          { d: `M${x(end)} ${y - 6} L${x(end) + 7} ${y} L${x(end)} ${y + 6} Z`, class: 'tl-live' },
          s('title', {}, `still live at ${formatSeconds(life.last_s)}`),
        ),
      );
    }
    let lastLabel = -Infinity;
    for (const p of life.phases) {
      const px = x(p.t_s);
      g.append(
        s(
          'circle',
          { cx: px, cy: y, r: 3.5, class: 'tl-phase', 'data-testid': 'timeline-phase' },
          s('title', {}, `${p.phase} at ${formatSeconds(p.t_s)} ${task(p.pid, p.comm)} (line ${p.line})`),
        ),
      );
      if (px - lastLabel > 60) {
        g.append(s('text', { x: px, y: y - 8, class: 'tl-phase-label', 'text-anchor': 'middle' }, p.phase));
        lastLabel = px;
      }
    }
    svg.append(g);
  });

  marks.forEach((m, i) => {
    const mx = x(m.t_s);
    svg.append(
      s(
        'g',
        { class: 'tl-mark', 'data-testid': 'timeline-mark' },
        s('line', { x1: mx, x2: mx, y1: TOP - 6, y2: height - AXIS, class: 'tl-mark-line' }),
        s('circle', { cx: mx, cy: TOP - 12, r: 7, class: 'tl-mark-dot' }),
        s('text', { x: mx, y: TOP - 8.5, class: 'tl-mark-num', 'text-anchor': 'middle' }, i + 1),
        s('title', {}, `${i + 1}. ${formatSeconds(m.t_s)} cpu${m.cpu} ${m.comm}[${m.pid}/${m.tid}] ${m.fn}: ${m.detail}`),
      ),
    );
  });

  const tables = lanes.map(({ host, life }) =>
    h(
      'details',
      { class: 'tl-phases', 'data-testid': 'lifetime-phases' },
      h(
        'summary',
        {},
        `${life.kind} ${formatAddr(life.addr)} #${life.gen} (${host}): ${life.state}, `,
        life.born_s === null ? 'born before the trace' : `born ${formatSeconds(life.born_s)}`,
        life.freed_s === null ? `, last seen ${formatSeconds(life.last_s)}` : `, freed ${formatSeconds(life.freed_s)}`,
        `, ${life.uses} uses, phase ${life.phase}`,
      ),
      h(
        'table',
        { class: 'compact' },
        h('thead', {}, h('tr', {}, h('th', {}, 'time'), h('th', {}, 'phase'), h('th', {}, 'task'), h('th', {}, 'line'))),
        h(
          'tbody',
          {},
          ...life.phases.map((p) =>
            h(
              'tr',
              {},
              h('td', { class: 'num' }, formatSeconds(p.t_s)),
              h('td', {}, p.phase),
              h('td', {}, task(p.pid, p.comm)),
              h('td', { class: 'num' }, p.line),
            ),
          ),
        ),
      ),
    ),
  );

  return h(
    'div',
    { class: 'timeline-box' },
    svg,
    all.length > lanes.length ? h('div', { class: 'note' }, `${all.length - lanes.length} more generations not drawn`) : null,
    ...tables,
  );
}
