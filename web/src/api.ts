/** The REST endpoints (same origin), typed by the wire protocol (server/shared/wire.ts lists them). */
import type {
  CaptureInfo,
  ErrorAnswer,
  FlagDetail,
  FlagSummary,
  HostStats,
  HostView,
  ObjectHistory,
  RecordAnswer,
  RecordRequest,
  ReplayCommand,
  ReplayRequest,
  ReplayStarted,
  ReplayView,
  RuleView,
  SaveRangeRequest,
  ServerView,
  StopAnswer,
  StopRequest,
  StreamRun,
} from '../../server/shared/wire.js';

/** A JSON answer, or an error with the server's {error} message when it has one (also for 2xx that are not JSON). */
async function answer<T>(path: string, res: Response): Promise<T> {
  const text = await res.text();
  let body: unknown;
  try {
    body = text === '' ? null : JSON.parse(text);
  } catch {
    throw new Error(`${path}: HTTP ${res.status}, not JSON`);
  }
  if (!res.ok) {
    const msg = body && typeof body === 'object' && 'error' in body ? String((body as ErrorAnswer).error) : `HTTP ${res.status}`;
    throw new Error(msg);
  }
  return body as T;
}

/** GET a JSON document; a non-2xx answer throws with the server's {error} message when it has one. */
async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  return answer<T>(path, await fetch(path, { headers: { accept: 'application/json' }, signal: signal ?? null }));
}

/** A request that changes something. POSTs must say they are JSON, or the server answers 415. */
async function send<T>(method: 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: { accept: 'application/json' } };
  if (body instanceof Blob) {
    init.headers = { accept: 'application/json', 'content-type': 'application/octet-stream' };
    init.body = body;
  } else if (body !== undefined) {
    init.headers = { accept: 'application/json', 'content-type': 'application/json' };
    init.body = JSON.stringify(body);
  }
  return answer<T>(path, await fetch(path, init));
}

const capture = (name: string): string => `/api/captures/${encodeURIComponent(name)}`;
const streamRun = (host: string, run: string): string => `/api/streams/${encodeURIComponent(host)}/${encodeURIComponent(run)}`;

/** A range of a stream run (seconds from its base_ns): the query of its download. */
export type RunSpan = Pick<SaveRangeRequest, 'from_s' | 'to_s'>;

export const api = {
  hosts: () => getJson<HostView[]>('/api/hosts'),
  stats: (host: string) => getJson<HostStats>(`/api/stats?host=${encodeURIComponent(host)}`),
  flags: (query: string, signal?: AbortSignal) => getJson<FlagSummary[]>(`/api/flags?${query}`, signal),
  flag: (id: string, signal?: AbortSignal) => getJson<FlagDetail>(`/api/flags/${encodeURIComponent(id)}`, signal),
  objects: (addr: string, host: string | null, kind: string | null, signal?: AbortSignal) => {
    const q = new URLSearchParams({ addr });
    if (host) q.set('host', host);
    if (kind) q.set('kind', kind);
    return getJson<ObjectHistory[]>(`/api/objects?${q}`, signal);
  },
  rules: () => getJson<RuleView[]>('/api/rules'),
  server: () => getJson<ServerView>('/api/server'),

  captures: () => getJson<CaptureInfo[]>('/api/captures'),
  /** Where the browser downloads a capture (an attachment). */
  captureUrl: capture,
  removeCapture: (name: string) => send<null>('DELETE', capture(name)),
  uploadCapture: (name: string, file: Blob) => send<CaptureInfo>('PUT', capture(name), file),
  /** Starts recording `host`, or every streaming host when it is undefined. */
  record: (host: string | undefined, name: string | undefined) =>
    send<RecordAnswer>('POST', '/api/captures/record', {
      ...(host === undefined ? {} : { host }),
      ...(name === undefined ? {} : { name }),
    } satisfies RecordRequest),
  stopRecording: (host: string | undefined) =>
    send<StopAnswer>('POST', '/api/captures/stop', (host === undefined ? {} : { host }) satisfies StopRequest),
  /** Replays a capture of the library as a new host; answers its name. */
  replay: (name: string, speed: number | 'max' = 1) =>
    send<ReplayStarted>('POST', '/api/replay', { capture: name, speed } satisfies ReplayRequest),
  /** The agent runs on the fleet's stream (none when the server has no NATS connection). */
  streams: () => getJson<StreamRun[]>('/api/streams'),
  /** Where the browser downloads a range of a stream run as a capture. */
  streamCaptureUrl: (host: string, run: string, span: RunSpan) => {
    const q = new URLSearchParams();
    if (span.from_s !== undefined) q.set('from_s', String(span.from_s));
    if (span.to_s !== undefined) q.set('to_s', String(span.to_s));
    const query = q.toString();
    return `${streamRun(host, run)}/capture${query === '' ? '' : `?${query}`}`;
  },
  saveStreamRange: (host: string, run: string, req: SaveRangeRequest) => send<CaptureInfo>('POST', `${streamRun(host, run)}/save`, req),
  replayCommand: (host: string, c: ReplayCommand) => send<ReplayView>('POST', `/api/replay/${encodeURIComponent(host)}`, c),
};
