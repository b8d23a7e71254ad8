/** A tiny element builder (no framework): h('div', { class: 'x', 'data-testid': 'y' }, child, ...). */

type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;
export type Child = Node | string | number | null | undefined | false;

function apply(el: Element, attrs: Attrs): void {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'number' ? String(c) : c);
  }
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

/** The element with this id, or an error naming it (index.html and main.ts must agree). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html has no #${id}`);
  return el as T;
}

/** Replaces a select's options after its first ("all ...") one, keeping the current choice even when it is not among them. */
export function fillSelect(el: HTMLSelectElement, values: readonly string[]): void {
  const keep = el.value;
  const all = [...new Set([...values, ...(keep ? [keep] : [])])].sort();
  const have = [...el.options].slice(1).map((o) => o.value);
  if (have.length === all.length && have.every((v, i) => v === all[i])) return;
  const first = el.options[0]!;
  el.replaceChildren(first, ...all.map((v) => h('option', { value: v }, v)));
  el.value = keep;
}
