/** The REST endpoints (same origin), typed by the wire protocol. */
import type { FlagDetail, FlagSummary, HostView, LossMark, ObjectHistory, SeverityLevel, StatsPoint } from '../../server/protocol/wire.js';

export interface RuleInfo {
  id: string;
  severity: SeverityLevel;
  thread: string;
  title: string;
  explanation: string;
}

/** GET a JSON document; a non-2xx answer throws with the server's {error} message when it has one. */
async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path, { headers: { accept: 'application/json' }, signal: signal ?? null });
  const text = await res.text();
  let body: unknown;
  try {
    body = text === '' ? null : JSON.parse(text);
  } catch {
    throw new Error(`${path}: HTTP ${res.status}, not JSON`);
  }
  if (!res.ok) {
    const msg = body && typeof body === 'object' && 'error' in body ? String((body as { error: unknown }).error) : `HTTP ${res.status}`;
    throw new Error(msg);
  }
  return body as T;
}

export const api = {
  hosts: () => getJson<HostView[]>('/api/hosts'),
  stats: (host: string) => getJson<{ points: StatsPoint[]; losses: LossMark[] }>(`/api/stats?host=${encodeURIComponent(host)}`),
  flags: (query: string, signal?: AbortSignal) => getJson<FlagSummary[]>(`/api/flags?${query}`, signal),
  flag: (id: string, signal?: AbortSignal) => getJson<FlagDetail>(`/api/flags/${encodeURIComponent(id)}`, signal),
  objects: (addr: string, host: string | null, kind: string | null, signal?: AbortSignal) => {
    const q = new URLSearchParams({ addr });
    if (host) q.set('host', host);
    if (kind) q.set('kind', kind);
    return getJson<ObjectHistory[]>(`/api/objects?${q}`, signal);
  },
  rules: () => getJson<RuleInfo[]>('/api/rules'),
};
