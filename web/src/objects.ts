/** The objects explorer: search an address (optionally on one host, of one kind), see its generations and their lifetimes. */
import type { ObjectHistory } from '../../server/shared/wire.js';
import { fillSelect, h } from './dom.js';
import { formatAddr, formatSeconds, parseAddr } from './format.js';
import { renderTimeline } from './timeline.js';

export interface ObjectsQuery {
  addr: string;
  host: string | null;
  kind: string | null;
}

export interface ObjectsWidget {
  /** Fills the form (from a drill-down link) and runs the search. */
  search(q: ObjectsQuery): void;
  loading(q: ObjectsQuery): void;
  show(q: ObjectsQuery, found: ObjectHistory[]): void;
  error(message: string): void;
  setChoices(hosts: string[], kinds: string[]): void;
}

export function createObjects(root: HTMLElement, onSearch: (q: ObjectsQuery) => void): ObjectsWidget {
  const input = h('input', {
    type: 'search',
    placeholder: '0xffff888100001000',
    'data-testid': 'objects-input',
    'aria-label': 'kernel address',
    size: 22,
    spellcheck: false,
  });
  const host = h('select', { 'data-testid': 'objects-host', 'aria-label': 'host' }, h('option', { value: '' }, 'any host'));
  const kind = h('select', { 'data-testid': 'objects-kind', 'aria-label': 'kind' }, h('option', { value: '' }, 'any kind'));
  const go = h('button', { type: 'submit', 'data-testid': 'objects-search' }, 'Find');
  const results = h('div', { class: 'objects-results', 'data-testid': 'objects-results' });
  const form = h('form', { class: 'objects-form' }, h('label', {}, 'Address ', input), host, kind, go);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const addr = parseAddr(input.value);
    if (addr === null) {
      results.replaceChildren(
        h('div', { class: 'error', 'data-testid': 'objects-error' }, `"${input.value}" is not a kernel address (hex, with or without 0x).`),
      );
      return;
    }
    onSearch({ addr, host: host.value || null, kind: kind.value || null });
  });
  root.replaceChildren(h('h2', {}, 'Objects explorer'), form, results);

  return {
    search(q) {
      input.value = q.addr;
      fillSelect(host, q.host ? [q.host] : []);
      host.value = q.host ?? '';
      fillSelect(kind, q.kind ? [q.kind] : []);
      kind.value = q.kind ?? '';
      root.scrollIntoView({ block: 'start' });
      onSearch(q);
    },
    loading(q) {
      results.replaceChildren(h('div', { class: 'empty' }, `searching ${q.addr}…`));
    },
    error(message) {
      results.replaceChildren(h('div', { class: 'error', 'data-testid': 'objects-error' }, message));
    },
    show(q, found) {
      if (found.length === 0) {
        results.replaceChildren(
          h(
            'div',
            { class: 'empty', 'data-testid': 'objects-none' },
            `No object at ${q.addr}${q.host ? ` on ${q.host}` : ''}${q.kind ? ` of kind ${q.kind}` : ''}.`,
          ),
        );
        return;
      }
      results.replaceChildren(
        ...found.map((o) =>
          h(
            'div',
            {
              class: 'object-history',
              'data-testid': 'object-history',
              'data-host': o.host,
              'data-kind': o.kind,
              'data-addr': formatAddr(o.addr),
            },
            h(
              'h3',
              {},
              `${o.kind} ${formatAddr(o.addr)} on ${o.host}: ${o.generations} generation(s)${o.generations > o.lifetimes.length ? `, ${o.lifetimes.length} kept (older ones are folded into the kind's summary)` : ''}`,
            ),
            h(
              'table',
              { class: 'compact lifetimes' },
              h(
                'thead',
                {},
                h('tr', {}, ...['gen', 'state', 'born', 'first seen', 'last seen', 'freed', 'phase', 'uses'].map((c) => h('th', {}, c))),
              ),
              h(
                'tbody',
                {},
                ...o.lifetimes.map((l) =>
                  h(
                    'tr',
                    { 'data-testid': 'lifetime-row', 'data-gen': l.gen, 'data-state': l.state },
                    h('td', { class: 'num' }, `#${l.gen}`),
                    h('td', {}, l.state),
                    h('td', { class: 'num' }, l.born_s === null ? 'before trace' : formatSeconds(l.born_s)),
                    h('td', { class: 'num' }, formatSeconds(l.first_s)),
                    h('td', { class: 'num' }, formatSeconds(l.last_s)),
                    h('td', { class: 'num' }, formatSeconds(l.freed_s)),
                    h('td', {}, l.phase),
                    h('td', { class: 'num' }, l.uses),
                  ),
                ),
              ),
            ),
            renderTimeline([o]),
          ),
        ),
      );
    },
    setChoices(hosts, kinds) {
      fillSelect(host, hosts);
      fillSelect(kind, kinds);
    },
  };
}
