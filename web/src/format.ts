/** How values are written on the page: kernel addresses as 0x..., kernel times in s with ms precision. */

/** A kernel address as 0x + lowercase hex, whether it came with or without the prefix. */
export function formatAddr(addr: string): string {
  const a = addr.trim().toLowerCase();
  return a.startsWith('0x') ? a : `0x${a}`;
}

/** Normalizes user input to an address the server accepts, or null when it is not hex. */
export function parseAddr(input: string): string | null {
  const a = input.trim().toLowerCase().replace(/^0x/, '');
  return /^[0-9a-f]{1,16}$/.test(a) ? `0x${a}` : null;
}

/** Kernel time in seconds with millisecond precision: "12.345 s". */
export function formatSeconds(t: number | null | undefined): string {
  return t === null || t === undefined || !Number.isFinite(t) ? '–' : `${t.toFixed(3)} s`;
}

/** A duration in ms or s. */
export function formatDuration(s: number): string {
  return s < 1 ? `${(s * 1000).toFixed(3)} ms` : `${s.toFixed(3)} s`;
}

/** Wall clock HH:MM:SS of an epoch-ms time (for the chart axis). */
export function formatWallClock(wall: number): string {
  const d = new Date(wall);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** The kernel addresses named in a text such as "epitem 0xffff...#0". */
export function addrsIn(text: string): string[] {
  return [...text.matchAll(/0x[0-9a-f]+/gi)].map((m) => m[0].toLowerCase());
}

/** "kind 0xaddr#gen" as written in FlagSummary.objects, split; null when it is not of that shape. */
export function parseObjectRef(ref: string): { kind: string; addr: string; gen: number | null } | null {
  const m = /^(\S+)\s+(?:0x)?([0-9a-f]+)(?:#(\d+))?$/i.exec(ref.trim());
  if (!m) return null;
  return { kind: m[1]!, addr: formatAddr(m[2]!), gen: m[3] === undefined ? null : Number(m[3]) };
}

/** A size: "812 B", "12.3 KB", "4.56 MB" (powers of 1024). */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${units[i]}`;
}

/** A date (ISO or epoch ms) as local "YYYY-MM-DD HH:MM:SS"; the text itself when it is not a date. */
export function formatDateTime(when: string | number): string {
  const d = new Date(when);
  if (Number.isNaN(d.getTime())) return String(when);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${formatWallClock(d.getTime())}`;
}

/** A replay speed as written on the page: "0.5×", "max". */
export function formatSpeed(speed: number | 'max'): string {
  return speed === 'max' ? 'max' : `${speed}×`;
}
