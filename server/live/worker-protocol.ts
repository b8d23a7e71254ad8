/**
 * The messages between the main thread (worker-pool.ts, remote-session.ts) and an analysis worker
 * thread (session-worker.ts). Batches travel as transferred ArrayBuffers (no copy); everything else
 * is plain data (structured clone). One direction each: commands and requests in, reports and
 * replies out.
 */
import type { AnalysisOptions } from '../analyze/pipeline.js';
import type { ObjectKind } from '../model/objects.js';
import { RULES } from '../rules/index.js';
import type { FlagDetail, FlagSummary, HostView, LossMark, ObjectHistory, StatsPoint } from '../shared/wire.js';
import type { StreamIdentity } from './host-session.js';

/** Analysis options as they cross to a worker: the rules by id (a rule holds functions). */
export type WireAnalysisOptions = Omit<Partial<AnalysisOptions>, 'rules'> & { ruleIds?: string[] };

export function toWireOptions(o: Partial<AnalysisOptions>): WireAnalysisOptions {
  const { rules, ...rest } = o;
  return rules === undefined ? rest : { ...rest, ruleIds: rules.map((r) => r.id) };
}

export function fromWireOptions(o: WireAnalysisOptions): Partial<AnalysisOptions> {
  const { ruleIds, ...rest } = o;
  return ruleIds === undefined ? rest : { ...rest, rules: RULES.filter((r) => ruleIds.includes(r.id)) };
}

/** What the analysis of a host has that the main thread shows without asking (HostView's analysis part). */
export type AnalysisView = Pick<HostView, 'events' | 'lost' | 'anomalies' | 'anomalyKinds' | 'missingBatches' | 'now_s' | 'ended'>;

/** Main thread -> worker. A session is named by its id (`sid`, unique in the process), not its host: a new run of a host is another session. */
export type ToWorker =
  | { type: 'open'; sid: number; identity: StreamIdentity; options: WireAnalysisOptions }
  /** A batch (`seq` > 0) or lines of a journal read back; `lines` is transferred. */
  | { type: 'ingest'; sid: number; seq: number; lines: ArrayBuffer; offset: number; length: number }
  | { type: 'journal-damaged'; sid: number }
  | { type: 'end'; sid: number; lastSeq: number }
  | { type: 'drop'; sid: number }
  | { type: 'request'; id: number; query: Query };

/** Drill-downs and samples, answered by the worker that owns the host. */
export type Query =
  | { kind: 'sample'; sid: number; now: number }
  | { kind: 'detail'; sid: number; flag: string }
  | { kind: 'objects'; sid: number; addr: string; kinds: readonly ObjectKind[] | undefined };

export type Answer = StatsSample | FlagDetail | ObjectHistory[] | undefined;

/** The analysis' state as the main thread keeps it (views, /metrics). */
export interface AnalysisState {
  view: AnalysisView;
  /** Flag occurrences by `rule|severity`. */
  flagCounts: [string, number][];
}

/** A sample's answer: the activity point, and the state with it. */
export interface StatsSample extends AnalysisState {
  point: StatsPoint;
}

/** Worker -> main thread. */
export type FromWorker =
  /** What handling one message produced: flags (new or changed), losses, the batch bytes done (and then the state after them). */
  | {
      type: 'report';
      sid: number;
      flags: FlagSummary[];
      losses: LossMark[] | undefined;
      /** A batch of this session was handled (its ack may go), `done` bytes of it. */
      batch: boolean;
      done: number;
      state?: AnalysisState;
    }
  | { type: 'ended'; sid: number; state: AnalysisState }
  | { type: 'reply'; id: number; answer: Answer }
  | { type: 'failed'; id: number; error: string }
  /** Handling a message of this session threw: its analysis stops (the others on the worker go on). */
  | { type: 'broken'; sid: number; error: string };
