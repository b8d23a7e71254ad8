/**
 * What the analysis workers of a fleet publish and answer (docs/fleet.md), and where: the contract
 * between `lifetrace worker --nats` and whatever reads its results (a dashboard, `nats sub`, a test).
 *
 * - `lifetrace.flags.HOST`: a flag, new or updated (FlagSummary JSON), in the `LIFETRACE_RESULTS`
 *   stream. A flag is identified by its `id`; its later messages replace the earlier. A worker that
 *   takes a host over replays the host's stream from its start and publishes its flags again, with
 *   the same ids and the same message ids (`Nats-Msg-Id`: FLAG@SEQ, the batch after which it was
 *   sent): the broker drops what it already has within the duplicate window, and a reader keeps, per
 *   flag id, the message with the highest `Lifetrace-Seq` (the later one on a tie).
 * - `lifetrace.losses.HOST`: the host's whole list of loss windows (LossMark[]), in the same stream;
 *   the latest message is the current list.
 * - `lifetrace.stats.HOST`: every STATS_INTERVAL_MS, the host's view and an activity sample
 *   (`StatsMessage`), core NATS only: a reader sees them from when it subscribes.
 * - `lifetrace.query.HOST`: request/reply to the worker that owns the host (`QueryRequest` JSON in,
 *   the answer's JSON out).
 * - the `lifetrace-fleet` KV bucket: live workers (`worker.ID`) and host leases (`lease.TOKEN`,
 *   the owner's id), both expiring unless renewed.
 */
import { StorageType, type StreamConfig } from '@nats-io/jetstream';
import type { FlagDetail, FlagSummary, HostStats, HostView, ObjectHistory, StatsPoint } from '../shared/wire.js';
import { DUPLICATE_WINDOW_NS, hostToken } from './subjects.js';

export const RESULTS_STREAM = 'LIFETRACE_RESULTS';
export const FLAGS_SUBJECTS = 'lifetrace.flags';
export const LOSSES_SUBJECTS = 'lifetrace.losses';
export const STATS_SUBJECTS = 'lifetrace.stats';
export const QUERY_SUBJECTS = 'lifetrace.query';

export const flagsSubject = (host: string): string => `${FLAGS_SUBJECTS}.${hostToken(host)}`;
export const lossesSubject = (host: string): string => `${LOSSES_SUBJECTS}.${hostToken(host)}`;
export const statsSubject = (host: string): string => `${STATS_SUBJECTS}.${hostToken(host)}`;
export const querySubject = (host: string): string => `${QUERY_SUBJECTS}.${hostToken(host)}`;

/** The header that carries the host's batch sequence number a result was published after. */
export const SEQ_HEADER = 'Lifetrace-Seq';
/** The header that carries the run of the host's stream a result belongs to (its sequence numbers start over with each run). */
export const RUN_HEADER = 'Lifetrace-Run';
/**
 * The header that carries where that run starts in the host's stream (its hello's stream sequence):
 * a host's runs are ordered by it (run ids are random), so a reader never goes back to an older run.
 */
export const RUN_SEQ_HEADER = 'Lifetrace-Run-Seq';

/**
 * The message id of a flag's update published after `after` (a batch's sequence number, `end`, or
 * SEQ.tN for the Nth settling tick after batch SEQ): after a batch or the end, the same in every
 * replay of the stream, so the broker drops a replay's copy.
 */
export const flagMessageId = (flagId: string, after: string): string => `${flagId}@${after}`;
/** The message id of a host's loss list of run `run`, published after `after` (as flagMessageId). */
export const lossesMessageId = (host: string, run: string, after: string): string => `${hostToken(host)}:${run}:losses@${after}`;

/** The results stream, as the first worker creates it: file storage; retention is the operator's. */
export const RESULTS_CONFIG: Partial<StreamConfig> & { name: string } = {
  name: RESULTS_STREAM,
  subjects: [`${FLAGS_SUBJECTS}.>`, `${LOSSES_SUBJECTS}.>`],
  storage: StorageType.File,
  duplicate_window: DUPLICATE_WINDOW_NS,
};

/** The KV bucket of the workers' membership and host leases. */
export const FLEET_BUCKET = 'lifetrace-fleet';
export const workerKey = (id: string): string => `worker.${id}`;
export const leaseKey = (host: string): string => `lease.${hostToken(host)}`;

/** What a worker publishes on `lifetrace.stats.HOST`. */
export interface StatsMessage {
  host: HostView;
  point: StatsPoint;
  /** The stream sequence of the run's hello (RUN_SEQ_HEADER): the later run of a host has the higher. */
  runSeq: number;
}

/** A question to the worker that owns a host (`lifetrace.query.HOST`). */
export type QueryRequest =
  | { type: 'host' }
  | { type: 'flags' }
  | { type: 'flag'; id: string }
  | { type: 'objects'; addr: string; kinds?: string[] }
  | { type: 'stats' };

/** The answers, by request type; a refusal is `{ error }`. */
export interface QueryAnswers {
  host: HostView;
  flags: FlagSummary[];
  flag: FlagDetail;
  objects: ObjectHistory[];
  stats: HostStats;
}

export type QueryAnswer = QueryAnswers[keyof QueryAnswers] | { error: string };
