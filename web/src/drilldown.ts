/**
 * The drill-down of one flag: rule, title, severity, confidence and why it is uncertain, the
 * rule's explanation and the kernel thread it comes from, the evidence chain in order, and the
 * objects' lifetimes as a timeline with the evidence as marks.
 */
import type { EvidenceView, FlagDetail } from '../../server/shared/wire.js';
import { h } from './dom.js';
import { addrsIn, formatAddr, formatCount, formatSeconds, parseObjectRef } from './format.js';
import { renderTimeline } from './timeline.js';

export interface DrilldownWidget {
  loading(id: string): void;
  show(d: FlagDetail): void;
  error(id: string, message: string): void;
  hide(): void;
  readonly openId: string | null;
}

export function createDrilldown(
  root: HTMLElement,
  on: { close(): void; explore(addr: string, host: string, kind: string | null): void },
): DrilldownWidget {
  let openId: string | null = null;
  const close = h(
    'button',
    { type: 'button', class: 'close', 'data-testid': 'drilldown-close', 'aria-label': 'close', onclick: () => on.close() },
    '×',
  );
  const body = h('div', { class: 'drill-body' });
  root.replaceChildren(close, body);
  root.hidden = true;
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !root.hidden) on.close();
  });

  const exploreLink = (addr: string, host: string, kind: string | null): HTMLElement =>
    h(
      'button',
      {
        type: 'button',
        class: 'link addr',
        'data-testid': 'explore-addr',
        'data-addr': addr,
        title: 'open in the objects explorer',
        onclick: () => on.explore(addr, host, kind),
      },
      addr,
    );

  return {
    get openId() {
      return openId;
    },
    loading(id) {
      openId = id;
      root.hidden = false;
      root.dataset.id = id;
      body.replaceChildren(h('div', { class: 'empty' }, 'loading…'));
    },
    error(id, message) {
      if (openId !== id) return;
      body.replaceChildren(h('div', { class: 'error', 'data-testid': 'drilldown-error' }, `Could not load flag ${id}: ${message}`));
    },
    hide() {
      openId = null;
      root.hidden = true;
      body.replaceChildren();
    },
    show(d) {
      if (openId !== d.flag.id) return;
      const f = d.flag;
      const objects = f.objects.map((ref) => {
        const o = parseObjectRef(ref);
        return o ? h('li', {}, `${o.kind} `, exploreLink(o.addr, f.host, o.kind), o.gen === null ? '' : ` #${o.gen}`) : h('li', {}, ref);
      });
      const evidence = h(
        'table',
        { class: 'evidence', 'data-testid': 'evidence' },
        h('thead', {}, h('tr', {}, ...['#', 'time', 'cpu', 'task', 'function', 'object / detail', 'line'].map((c) => h('th', {}, c)))),
        h(
          'tbody',
          {},
          ...d.evidence.map((e, i) =>
            h(
              'tr',
              { 'data-testid': 'evidence-row', 'data-t': e.t_s, 'data-fn': e.fn },
              h('td', { class: 'num' }, i + 1),
              h('td', { class: 'num', 'data-testid': 'evidence-time' }, formatSeconds(e.t_s)),
              h('td', { class: 'num' }, e.cpu),
              h('td', { class: 'task' }, `${e.comm}[${e.pid}${e.tid !== e.pid ? `/${e.tid}` : ''}]`),
              h('td', { class: 'fn', 'data-testid': 'evidence-fn' }, e.fn),
              h('td', { class: 'detail' }, ...linkAddrs(e.detail, (a) => exploreLink(a, f.host, null)), stackOf(e)),
              h('td', { class: 'num' }, e.line),
            ),
          ),
        ),
      );

      body.replaceChildren(
        h(
          'div',
          { class: 'drill-head' },
          h('span', { class: `badge sev sev-${f.severity}` }, f.severity),
          h('span', { class: `badge conf-${f.confidence}`, 'data-testid': 'drilldown-confidence' }, f.confidence),
          h('code', { class: 'drill-rule', 'data-testid': 'drilldown-rule' }, f.rule),
        ),
        h('h2', { 'data-testid': 'drilldown-title' }, d.title),
        h('p', { class: 'drill-message', 'data-testid': 'drilldown-message' }, f.message),
        h(
          'dl',
          { class: 'drill-facts' },
          h('dt', {}, 'host'),
          h('dd', {}, f.host),
          h('dt', {}, 'time'),
          h('dd', {}, `${formatSeconds(f.time_s)}${f.last_s !== f.time_s ? ` – ${formatSeconds(f.last_s)}` : ''}`),
          h('dt', {}, 'occurrences'),
          h('dd', { 'data-testid': 'drilldown-count' }, formatCount(f.count)),
          h('dt', {}, 'tasks'),
          h('dd', {}, f.pids.map((p, i) => `${f.comms[i] ?? '?'}[${p}]`).join(', ') || '–'),
          h('dt', {}, 'thread'),
          h('dd', { 'data-testid': 'drilldown-thread' }, d.thread),
        ),
        d.uncertainty.length > 0
          ? h(
              'div',
              { class: 'uncertainty', 'data-testid': 'drilldown-uncertainty' },
              h('strong', {}, 'Uncertain: '),
              h('ul', {}, ...d.uncertainty.map((u) => h('li', {}, u))),
            )
          : h('div', { class: 'certainty' }, 'Certain: no events were lost around this evidence.'),
        d.guard === null
          ? h(
              'section',
              { class: 'drill-guard', 'data-testid': 'drilldown-guard', 'data-state': 'none' },
              h('h3', {}, 'Guarded on this kernel?'),
              h('p', {}, 'No kernel fix applies: this rule flags documented behaviour.'),
            )
          : h(
              'section',
              { class: 'drill-guard', 'data-testid': 'drilldown-guard', 'data-state': d.guard.state },
              h('h3', {}, 'Guarded on this kernel?'),
              h(
                'p',
                {},
                'guarded by ',
                h('code', { 'data-testid': 'drilldown-guard-fix' }, d.guard.fix),
                ': ',
                h('strong', { class: `guard-${d.guard.state}`, 'data-testid': 'drilldown-guard-state' }, d.guard.state),
                ' ',
                h('span', { class: 'how', 'data-testid': 'drilldown-guard-how' }, `(${d.guard.how})`),
              ),
            ),
        h(
          'section',
          {},
          h('h3', {}, 'Why it matters'),
          h('p', { class: 'explanation', 'data-testid': 'drilldown-explanation' }, d.explanation),
        ),
        h('section', {}, h('h3', {}, `Evidence (${d.evidence.length} events, in order)`), evidence),
        h('section', {}, h('h3', {}, 'Objects'), h('ul', { class: 'drill-objects' }, ...objects)),
        h(
          'section',
          { 'data-testid': 'drilldown-timeline' },
          h('h3', {}, 'Lifetimes (evidence as numbered marks)'),
          renderTimeline(d.objects, d.evidence),
        ),
      );
    },
  };
}

/** Text with each kernel address turned into a link. */
function linkAddrs(text: string, link: (addr: string) => HTMLElement): (string | HTMLElement)[] {
  const out: (string | HTMLElement)[] = [];
  let rest = text;
  for (const a of addrsIn(text)) {
    const i = rest.toLowerCase().indexOf(a);
    if (i < 0) continue;
    out.push(rest.slice(0, i), link(formatAddr(a)));
    rest = rest.slice(i + a.length);
  }
  out.push(rest);
  return out;
}

/**
 * A step's kernel stack, folded (a summary line; the frames on a click), as KASAN prints one: the
 * innermost frame first. Nothing for a capture without stacks.
 */
function stackOf(e: EvidenceView): HTMLElement | string {
  if (e.stack === undefined) return '';
  const where = e.stack_at === 'return' ? ' at the return' : '';
  if (e.stack.length === 0) return h('div', { class: 'stack-none', 'data-testid': 'evidence-stack' }, `kernel stack${where}: unavailable`);
  return h(
    'details',
    { class: 'stack', 'data-testid': 'evidence-stack' },
    h('summary', {}, `kernel stack${where} (${e.stack.length} frames)`),
    h('ol', {}, ...e.stack.map((fr) => h('li', { 'data-testid': 'stack-frame' }, fr))),
  );
}
