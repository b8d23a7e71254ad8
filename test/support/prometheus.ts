/** Prometheus' text format, as a scraper reads it (the /metrics tests of the server and of fleet workers). */

export type Sample = { labels: Record<string, string>; value: number };

/** The samples of one metric family: labels (as an object) and value. */
export function samples(text: string, name: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

export const sum = (xs: { value: number }[]): number => xs.reduce((a, x) => a + x.value, 0);
