/**
 * The flags feed: newest first, one row per flag (severity, rule, host, time, occurrences,
 * confidence, message). At most MAX_FLAG_ROWS rows live in the DOM; the rest are counted.
 * Rows are keyed by flag id and reused, so an update (count, confidence) only rewrites its row.
 */
import type { FlagSummary } from '../../server/shared/wire.js';
import { MAX_FLAG_ROWS } from './config.js';
import { h } from './dom.js';
import { formatCount, formatSeconds } from './format.js';

export interface FlagsWidget {
  /** `flags` are already filtered and sorted; `total` counts every flag the page knows. */
  render(flags: FlagSummary[], total: number, note?: string): void;
  select(id: string | null): void;
}

function rowKey(f: FlagSummary): string {
  return `${f.count}|${f.confidence}|${f.last_s}|${f.message}`;
}

function buildRow(f: FlagSummary, onSelect: (id: string) => void): HTMLElement {
  return h(
    'li',
    {
      class: `flag-row sev-${f.severity}`,
      'data-testid': 'flag-row',
      'data-id': f.id,
      'data-rule': f.rule,
      'data-severity': f.severity,
      'data-host': f.host,
      'data-key': rowKey(f),
      tabindex: 0,
      role: 'button',
      onclick: () => onSelect(f.id),
      onkeydown: ((e: KeyboardEvent) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          onSelect(f.id);
        }
      }) as EventListener,
    },
    h('span', { class: `badge sev sev-${f.severity}`, 'data-testid': 'flag-severity' }, f.severity),
    h('span', { class: 'flag-rule', 'data-testid': 'flag-rule' }, f.rule),
    h('span', { class: 'flag-host', 'data-testid': 'flag-host' }, f.host),
    h(
      'span',
      { class: 'flag-time', 'data-testid': 'flag-time', title: `first ${formatSeconds(f.time_s)}, last ${formatSeconds(f.last_s)}` },
      formatSeconds(f.time_s),
    ),
    h('span', { class: 'flag-count', 'data-testid': 'flag-count', title: 'occurrences' }, `×${formatCount(f.count)}`),
    f.confidence === 'uncertain'
      ? h('span', { class: 'badge uncertain', title: 'events were lost around its evidence' }, 'uncertain')
      : null,
    h('span', { class: 'flag-message', title: f.message }, f.message),
  );
}

export function createFlags(root: HTMLElement, onSelect: (id: string) => void): FlagsWidget {
  const head = h('div', { class: 'flags-head', 'data-testid': 'flags-count' });
  const list = h('ul', { class: 'flags-list', 'data-testid': 'flags-list' });
  const more = h('div', { class: 'flags-more', 'data-testid': 'flags-hidden', hidden: true });
  const empty = h('div', { class: 'empty', hidden: true }, 'No flags match.');
  root.replaceChildren(head, list, more, empty);
  const rows = new Map<string, HTMLElement>();
  let selected: string | null = null;

  return {
    render(flags, total, note) {
      const shown = flags.slice(0, MAX_FLAG_ROWS);
      const keep = new Set(shown.map((f) => f.id));
      for (const [id, el] of rows)
        if (!keep.has(id)) {
          el.remove();
          rows.delete(id);
        }
      // Walk the wanted order and move or create rows only where the DOM differs.
      let cursor: ChildNode | null = list.firstChild;
      for (const f of shown) {
        let el = rows.get(f.id);
        if (el && el.dataset.key !== rowKey(f)) {
          const fresh = buildRow(f, onSelect);
          el.replaceWith(fresh);
          if (cursor === el) cursor = fresh;
          el = fresh;
          rows.set(f.id, el);
        }
        if (!el) {
          el = buildRow(f, onSelect);
          rows.set(f.id, el);
        }
        el.classList.toggle('selected', f.id === selected);
        if (cursor === el) cursor = el.nextSibling;
        else list.insertBefore(el, cursor);
      }
      const hidden = flags.length - shown.length;
      more.hidden = hidden === 0;
      more.textContent =
        hidden > 0
          ? `${formatCount(hidden)} more flags not shown (newest ${formatCount(MAX_FLAG_ROWS)} are listed; narrow the filter)`
          : '';
      empty.hidden = flags.length > 0;
      head.textContent = `${formatCount(flags.length)} of ${formatCount(total)} flags${note ? ` ${note}` : ''}`;
    },
    select(id) {
      selected = id;
      for (const [fid, el] of rows) el.classList.toggle('selected', fid === id);
    },
  };
}
