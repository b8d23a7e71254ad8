/**
 * The wire protocol, one module for every party: agents -> server (ingest socket), server ->
 * browsers (feed socket) and the REST payloads. It has no node: or DOM types so that web/ compiles
 * against the very same definitions (server/shared/README.md).
 *
 * Times: `_s` fields are kernel time in seconds relative to the host's capture time base (the
 * first whole second of its trace); `wall` fields are the server's wall clock in ms since the epoch.
 */
import type { Severity } from './severity.js';

export const PROTOCOL_VERSION = 1;
export const INGEST_PATH = '/ws/agent';
export const FEED_PATH = '/ws/feed';

export type RuleState = 'active' | 'degraded' | 'off';

// ---------------------------------------------------------------- agent <-> server

/** Where a host's stream comes from: the live kernel, or a capture replayed through an agent. */
export type StreamMode = 'live' | 'replay';

/** First text frame on the ingest socket. */
export interface AgentHello {
  type: 'hello';
  protocol: number;
  /** Identifies one agent run: a reconnect with the same id resumes, a new id starts a new stream. */
  run: string;
  host: string;
  mode: StreamMode;
  /** Shown next to the host (e.g. the replayed file). */
  label?: string;
  /** The capture header (docs/capture-format.md): kernel, families, probe resolution, cpus. */
  header: Record<string, unknown>;
  rules: { id: string; status: RuleState }[];
}

/** The stream ended for good (the workload finished, or the replayed file did). */
export interface AgentEnd {
  type: 'end';
  lastSeq: number;
  reason: string;
}

export type AgentMessage = AgentHello | AgentEnd;

export type ServerToAgent =
  | { type: 'welcome'; host: string; resumeAfter: number }
  | { type: 'ack'; seq: number }
  | { type: 'error'; message: string };

/**
 * Raw capture lines travel in binary frames, never re-encoded: a 16-byte head (magic "LTB1", u32
 * line count, f64 sequence number, little endian) and then the lines, each ending in '\n'.
 * Sequence numbers start at 1 and go up by one per batch within a run.
 */
export const BATCH_HEAD = 16;
const MAGIC = 0x3142544c; // "LTB1" read as a little-endian u32

export interface BatchHead {
  seq: number;
  lines: number;
}

export function encodeBatchHead(seq: number, lines: number): Uint8Array {
  const head = new Uint8Array(BATCH_HEAD);
  const v = new DataView(head.buffer);
  v.setUint32(0, MAGIC, true);
  v.setUint32(4, lines, true);
  v.setFloat64(8, seq, true);
  return head;
}

/** The head of a binary frame, or why the frame is not a batch. */
export function decodeBatchHead(frame: Uint8Array): BatchHead | string {
  if (frame.byteLength < BATCH_HEAD) return `a batch frame needs ${BATCH_HEAD} bytes of head, got ${frame.byteLength}`;
  const v = new DataView(frame.buffer, frame.byteOffset, BATCH_HEAD);
  if (v.getUint32(0, true) !== MAGIC) return 'a binary frame that is not a batch (bad magic)';
  const seq = v.getFloat64(8, true);
  if (!Number.isSafeInteger(seq) || seq < 1) return `bad batch sequence number ${seq}`;
  if (frame.byteLength > BATCH_HEAD && frame[frame.byteLength - 1] !== 10) return 'a batch must end with a newline';
  return { seq, lines: v.getUint32(4, true) };
}

// ---------------------------------------------------------------- REST payloads and feed views

export interface HostView {
  host: string;
  run: string;
  mode: StreamMode;
  label: string | null;
  kernel: string;
  families: string[];
  rules: { id: string; status: RuleState }[];
  connected: boolean;
  /** The stream ended (agent said so); a disconnected but not ended host may still resume. */
  ended: boolean;
  connectedSince: number;
  lastBatchWall: number | null;
  events: number;
  lost: number;
  anomalies: number;
  /** The anomalies by kind (docs/capture-format.md: bad lines, late events, a truncated last line...). */
  anomalyKinds: Record<string, number>;
  duplicates: number;
  /** Batches skipped in the agent's sequence (a server restarted without its journal): a recorded loss. */
  missingBatches: number;
  /** Kernel time of the newest event, s. */
  now_s: number;
  /** The capture being recorded from this host's stream, if any. */
  recording: RecordingView | null;
  /** The stream's journal (what lets a restarted server resume it); null: this server keeps none. */
  journal: JournalView | null;
  /** Present when the server itself replays a capture as this host (`lifetrace replay`, the library). */
  replay: ReplayView | null;
  /** Why this host's analysis stopped before its stream did (the worker thread analyzing it failed); null while it works. */
  failed: string | null;
}

export interface RecordingView {
  name: string;
  started: number;
  bytes: number;
  /** Recording stopped by a failure (e.g. the disk is full); the live view goes on. */
  error: string | null;
}

export interface JournalView {
  bytes: number;
  /** Journaling stopped (e.g. the disk is full): the live view goes on, a restart resumes only up to here. */
  error: string | null;
}

/** The server's own disk writes (journals, recordings, uploads), in GET /api/server. */
export interface StorageView {
  /** false while the latest write failed (e.g. the disk is full): journaling and recording are stopped. */
  ok: boolean;
  error: string | null;
  since: number | null;
  /** Storage anomalies by kind (docs/security.md). */
  counts: Record<string, number>;
}

export interface CaptureInfo {
  name: string;
  bytes: number;
  modified: string;
  /** Being written right now (by a recording). */
  recording: boolean;
}

/** A server-side replay: the capture is fed through the same pipeline at `speed`. */
export interface ReplayView {
  capture: string;
  playing: boolean;
  /** A factor from 0.1 to 100, or 'max'. */
  speed: number | 'max';
  /** Kernel time of the trace (s, relative to its time base): its first and last record, and where the replay is. */
  start_s: number;
  end_s: number;
  position_s: number;
  /** Where in the trace each flag is raised (from a first pass): "next flag" and the time axis. */
  flags_s: number[];
  finished: boolean;
  /** The capture could not be read to its end (truncated, corrupt): what came before it is shown. */
  error: string | null;
}

/** POST /api/replay/:host, JSON. */
export type ReplayCommand =
  | { action: 'play' }
  | { action: 'pause' }
  | { action: 'speed'; speed: number | 'max' }
  | { action: 'seek'; to_s: number }
  | { action: 'next-flag' }
  /** Ends the replay: the host stays, disconnected, until its slot is needed by another host. */
  | { action: 'stop' };

/** One sample of a host's activity, taken every STATS_INTERVAL_MS. */
export interface StatsPoint {
  host: string;
  wall: number;
  now_s: number;
  /** Events per second over the interval, per probe family. */
  rate: Record<string, number>;
  /** Live objects per kind at the sample. */
  live: Record<string, number>;
  /** Lost kernel events so far (a running total: the chart shows the difference between points). */
  lost: number;
}

export const STATS_INTERVAL_MS = 500;

export interface LossMark {
  host: string;
  start_s: number | null;
  end_s: number | null;
  count: number;
  /** Capture line of the lost_events record. */
  line: number;
  /** Set for a gap: the probes were not running (an agent restarted bpftrace); the count is unknown. */
  reason: string | null;
}

export interface FlagSummary {
  id: string;
  host: string;
  /** The host's run (HostView.run) that raised it: a new run (a restarted agent, a replay seeking back) starts over. */
  run: string;
  rule: string;
  severity: Severity;
  confidence: 'certain' | 'uncertain';
  count: number;
  time_s: number;
  last_s: number;
  /** Kernel time of the record that raised it, or that added its latest occurrence. */
  raised_s: number;
  /** When the server raised it. */
  wall: number;
  objects: string[];
  kinds: string[];
  pids: number[];
  comms: string[];
  message: string;
}

/** One kernel event as evidence shows it: who ran it, where, and what it did. */
export interface EventFacts {
  cpu: number;
  pid: number;
  tid: number;
  comm: string;
  fn: string;
  event: string;
  detail: string;
  line: number;
  /** The kernel stack, innermost frame first (empty: the kernel could not give it); absent in captures without stacks. */
  stack?: string[];
  /** 'return': the stack was taken at a kretprobe, after the probed function returned. */
  stack_at?: 'return';
}

export interface EvidenceView extends EventFacts {
  t_s: number;
}

export interface PhaseView {
  phase: string;
  t_s: number;
  pid: number | null;
  comm: string | null;
  line: number;
}

/** One generation of an object at an address. */
export interface LifetimeView {
  id: string;
  kind: string;
  addr: string;
  gen: number;
  state: 'live' | 'freed';
  /** Birth seen by the probes (null: it existed before the trace, or births of this kind are not probed). */
  born_s: number | null;
  first_s: number;
  last_s: number;
  freed_s: number | null;
  phase: string;
  phases: PhaseView[];
  uses: number;
}

export interface ObjectHistory {
  host: string;
  kind: string;
  addr: string;
  /** Generations seen at this address; older dead ones are folded into the kind's summary. */
  generations: number;
  lifetimes: LifetimeView[];
}

/** Whether the traced kernel carries the rule's fix, and how lifetrace decided it (docs/rules.md). */
export interface GuardView {
  fix: string;
  state: 'yes' | 'no' | 'unknown';
  how: string;
}

export interface FlagDetail {
  flag: FlagSummary;
  title: string;
  explanation: string;
  thread: string;
  /** null when the rule names no fix (it flags documented behaviour). */
  guard: GuardView | null;
  uncertainty: string[];
  evidence: EvidenceView[];
  objects: ObjectHistory[];
}

// ---------------------------------------------------------------- REST answers

/*
 * GET  /api/hosts                 HostView[]
 * GET  /api/stats?host=           HostStats
 * GET  /api/flags?FlagMatch&limit&after   FlagSummary[], the next page as a Link rel="next" (flag-query.ts)
 * GET  /api/flags/:id             FlagDetail
 * GET  /api/objects?addr&host&kind        ObjectHistory[]
 * GET  /api/captures              CaptureInfo[]
 * GET  /api/captures/:name        the capture's bytes; PUT (application/octet-stream) CaptureInfo; DELETE 204
 * POST /api/captures/record       RecordRequest -> RecordAnswer
 * POST /api/captures/stop         StopRequest -> StopAnswer
 * POST /api/replay                ReplayRequest -> ReplayStarted
 * POST /api/replay/:host          ReplayCommand -> ReplayView
 * GET  /api/server                ServerView
 * GET  /api/rules                 RuleView[]
 * GET  /api/streams               StreamRun[] (a server with a NATS connection; docs/fleet.md)
 * GET  /api/streams/:host/:run/capture?from_s&to_s&from_seq&to_seq   a range of the run as a capture (.ljsonl)
 * POST /api/streams/:host/:run/save   SaveRangeRequest -> CaptureInfo (201)
 * Any refusal or failure          ErrorAnswer, with a 4xx or 5xx status
 */

/**
 * One agent run held by the fleet's stream (docs/fleet.md "Captures from the stream"): any range of
 * it reads as a capture. Kernel times come from the records of its first and last batch held.
 */
export interface StreamRun {
  host: string;
  run: string;
  mode: StreamMode;
  label: string | null;
  kernel: string;
  /** Sequence numbers of the first and last batch the stream holds (0 and 0: none yet). */
  first_seq: number;
  last_seq: number;
  /** Batches of the run up to last_seq that the stream does not hold (cut by its retention). */
  missing: number;
  /** The run's time base (kernel CLOCK_MONOTONIC ns, decimal, a whole second): `_s` times count from it. */
  base_ns: string | null;
  /** Kernel time of the earliest record of the first batch held and the latest of the last, s from base_ns. */
  first_s: number | null;
  last_s: number | null;
  /** When the broker stored the run's first and last message held (ISO-8601, the broker's clock). */
  stored_from: string;
  stored_to: string;
  /** Bytes of capture lines the stream holds for the run. */
  bytes: number;
  /** The run's end is on the stream (the agent finished). */
  ended: boolean;
}

/** A range of a stream run to keep in the capture library; no range: the whole run. */
export interface SaveRangeRequest {
  name: string;
  from_s?: number;
  to_s?: number;
  from_seq?: number;
  to_seq?: number;
}

export interface ErrorAnswer {
  error: string;
}

/** A host's recent activity and where its events were lost. */
export interface HostStats {
  points: readonly StatsPoint[];
  losses: LossMark[];
}

/** Starts recording `host`, or every streaming host when it is absent; `name` prefixes the captures' names. */
export interface RecordRequest {
  host?: string;
  name?: string;
}

/** The recordings started: a capture per host. */
export interface RecordAnswer {
  recording: { host: string; name: string }[];
}

/** Stops recording `host`, or every host when it is absent. */
export interface StopRequest {
  host?: string;
}

/** The captures saved. */
export interface StopAnswer {
  stopped: string[];
}

/** Replays a capture of the library as a new host (speed: 1 when absent). */
export interface ReplayRequest {
  capture: string;
  speed?: number | 'max';
}

/** The host the replay streams as. */
export interface ReplayStarted {
  host: string;
}

export interface ServerView {
  version: string;
  hosts: number;
  feeds: number;
  /** Refused requests and connections by reason (docs/security.md). */
  rejected: Record<string, number>;
  storage: StorageView;
  /** A dashboard of a fleet (`serve --nats`): its broker and what it read; null for a server of its own agents. */
  fleet: FleetView | null;
}

/** A stateless dashboard's link to the fleet's broker (docs/fleet.md). */
export interface FleetView {
  url: string;
  /** Connected to the broker now (the client reconnects by itself). */
  connected: boolean;
  /** Hosts the workers have published results or stats of. */
  hosts: number;
  /** Flag and loss messages read from the results stream. */
  resultsRead: number;
  /** Messages on the results or stats subjects that were not what a worker publishes (counted, ignored). */
  badMessages: number;
}

export interface RuleView {
  id: string;
  /** The highest severity the rule can raise; each flag says its own. */
  severity: Severity;
  /** The mailing-list thread the rule comes from ("000: epoll: ..."). */
  thread: string;
  title: string;
  explanation: string;
  /** The fix that closes the historical window; null when the rule names none. */
  fix: string | null;
}

// ---------------------------------------------------------------- browser feed

/**
 * The feed. `flags` carries new flags and updates (same id: count, confidence, last_s). `losses`
 * carries, for each host it names, that host's whole current list of loss windows.
 */
export type FeedMessage =
  | { type: 'snapshot'; version: string; hosts: HostView[]; flags: FlagSummary[]; stats: StatsPoint[]; losses: LossMark[] }
  | { type: 'stats'; hosts: HostView[]; points: StatsPoint[] }
  | { type: 'flags'; flags: FlagSummary[] }
  | { type: 'losses'; losses: LossMark[] };

/** What a browser may send: ask for a fresh snapshot (after a pause, or when it fell behind). */
export type BrowserMessage = { type: 'snapshot' };
