/** The filter bar: host, pid or comm, object kind, rule, severity. */
import { SEVERITIES, type Severity } from '../../server/shared/severity.js';
import { fillSelect, h } from './dom.js';
import { NO_FILTER, type FlagFilter } from './flag-filter.js';

export interface FiltersWidget {
  /** Refreshes the choices (keeps the current selection even when it is not among them). */
  setChoices(c: { hosts: string[]; kinds: string[]; rules: string[] }): void;
  value(): FlagFilter;
}

export function createFilters(root: HTMLElement, onChange: (f: FlagFilter) => void): FiltersWidget {
  const select = (testid: string, label: string): HTMLSelectElement =>
    h(
      'select',
      { 'data-testid': testid, 'aria-label': label, title: label },
      h('option', { value: '' }, label === 'severity' ? 'any severity' : `all ${label}s`),
    );
  const host = select('filter-host', 'host');
  const kind = select('filter-kind', 'kind');
  const rule = select('filter-rule', 'rule');
  const severity = select('filter-severity', 'severity');
  for (const s of SEVERITIES)
    severity.append(h('option', { value: s }, s === 'info' ? 'info and up' : s === 'warning' ? 'warning and up' : 'error only'));
  const task = h('input', {
    type: 'search',
    placeholder: 'pid or comm',
    'data-testid': 'filter-task',
    'aria-label': 'pid or comm',
    size: 12,
  });
  const clear = h('button', { type: 'button', 'data-testid': 'filter-clear' }, 'clear');

  let current: FlagFilter = NO_FILTER;
  const read = (): FlagFilter => ({
    host: host.value || null,
    task: task.value,
    kind: kind.value || null,
    rule: rule.value || null,
    severity: (severity.value || null) as Severity | null,
  });
  const changed = (): void => {
    current = read();
    onChange(current);
  };
  for (const el of [host, kind, rule, severity]) el.addEventListener('change', changed);
  let typing: number | undefined;
  task.addEventListener('input', () => {
    clearTimeout(typing);
    typing = window.setTimeout(changed, 150);
  });
  clear.addEventListener('click', () => {
    for (const el of [host, kind, rule, severity]) el.value = '';
    task.value = '';
    changed();
  });

  root.replaceChildren(h('span', { class: 'label' }, 'Filter'), host, task, kind, rule, severity, clear);

  return {
    setChoices({ hosts, kinds, rules }) {
      fillSelect(host, hosts);
      fillSelect(kind, kinds);
      fillSelect(rule, rules);
    },
    value: () => current,
  };
}
