/**
 * The fleet's stream as a capture library (docs/fleet.md "Captures from the stream"): the agent
 * runs a host's subject holds, and any range of one read back as a capture: the hello's header
 * line, then the batches' lines byte for byte, a `lifetrace_gap` where batches are missing.
 *
 * Listing reads headers only: a headers-only ordered consumer on each host's subject gives every
 * message's id (run, batch sequence), kind, size and store time at some 150 bytes a message instead
 * of the batch (256 KB), and the exact picture (missing batches, ended or not); then three messages
 * per run are read whole: its hello (kernel, mode) and its first and last batch held (kernel times).
 * A read streams the run's batches a few at a time: never the whole run in memory.
 */
import {
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { checkHeader, serializeHeader, type CaptureHeader } from '../capture/header.js';
import { BATCH_HEAD, type AgentHello, type StreamRun } from '../shared/wire.js';
import { err, ok, type Result } from '../support/result.js';
import { BATCH_SUBJECTS, batchSubject, hostOfToken, KIND_HEADER, parseMessageId, STREAM } from './subjects.js';

/** The kernel time (decimal ns) of a capture line that is a probe record, else undefined (decode/'s printfNsecsOf). */
export type RecordTime = (line: Uint8Array) => string | undefined;

/** Which part of a run: batch sequence numbers and/or kernel time (s from the run's base_ns), bounds included. */
export interface RunRange {
  from_s?: number | undefined;
  to_s?: number | undefined;
  from_seq?: number | undefined;
  to_seq?: number | undefined;
}

export type RangeProblem = { kind: 'not-found' | 'bad-range'; message: string };

export interface RangeRead {
  run: StreamRun;
  /** The capture's bytes: the header line, then the lines (each chunk a batch's, or a gap mark). */
  bytes: AsyncIterable<Uint8Array>;
}

/**
 * How far past `to_s` a read goes on looking for records: bpftrace prints each CPU's buffer in
 * turn, so a batch may hold records older than the one before by up to the readers' reorder
 * window (docs/capture-format.md "Order and time"), 10 s.
 */
const LATE_NS = 10_000_000_000n;
/** Batches fetched at a time by a read (256 KB each): what a read holds at most, besides one batch being sent. */
const READ_AHEAD = 8;
/** Headers fetched at a time when listing. */
const LIST_AHEAD = 1000;
/** A fetch that brings nothing for this long: the rest is not (or no longer) on the stream. */
const FETCH_MS = 2000;

/** A run as the listing found it on its host's subject (stream sequence numbers: `at`). */
interface RunIndex {
  host: string;
  run: string;
  helloAt: number;
  /** Batch sequence numbers and where they are on the stream, in stream order. */
  seqs: number[];
  ats: number[];
  bytes: number;
  ended: boolean;
  storedFrom: number;
  storedTo: number;
  lastAt: number;
}

/** Batches looked at, from each end of a run, for the first and last that hold records. */
const TIME_PROBES = 8;

export class StreamRanges {
  /** Batches fetched whole by reads so far (what a range cost the broker: bench:ranges prints it). */
  batchesRead = 0;

  /** The JetStream manager, made once (each one made costs a round trip to the broker). */
  private manager: Promise<JetStreamManager> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly recordTime: RecordTime,
  ) {}

  private jsm(): Promise<JetStreamManager> {
    this.manager ??= jetstreamManager(this.nc);
    // A failed one (the broker away) is made again next time.
    this.manager.catch(() => {
      this.manager = undefined;
    });
    return this.manager;
  }

  /** Every run on the stream, host by host, oldest first. */
  async list(): Promise<StreamRun[]> {
    const out: StreamRun[] = [];
    for (const host of await this.hosts())
      for (const r of await this.index(host)) {
        const hello = await this.hello(r);
        if (hello.ok) out.push(await this.view(r, hello.value)); // a run without a readable hello is no capture
      }
    return out;
  }

  /** The range of one run as capture bytes, or why not (no such run: not-found; a range that is not one: bad-range). */
  async read(host: string, run: string, range: RunRange): Promise<Result<RangeRead, RangeProblem>> {
    const bad = rangeProblem(range);
    if (bad !== undefined) return err({ kind: 'bad-range', message: bad });
    if (!(await this.hosts()).includes(host)) return err({ kind: 'not-found', message: `no host ${host} on the stream` });
    const r = (await this.index(host)).find((x) => x.run === run);
    if (r === undefined) return err({ kind: 'not-found', message: `no run ${run} of host ${host} on the stream` });
    const hello = await this.hello(r);
    if (!hello.ok) return err({ kind: 'not-found', message: `run ${run} of host ${host} cannot be read as a capture: ${hello.error}` });
    const view = await this.view(r, hello.value);
    return ok({ run: view, bytes: this.lines(r, hello.value, view, range) });
  }

  /** The hosts with messages on the stream. */
  private async hosts(): Promise<string[]> {
    const jsm = await this.jsm();
    const info = await jsm.streams.info(STREAM, { subjects_filter: `${BATCH_SUBJECTS}.>` }).catch((e: unknown) => {
      if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound) return undefined; // no agent yet
      throw e;
    });
    return Object.keys(info?.state.subjects ?? {})
      .map((s) => hostOfToken(s.slice(BATCH_SUBJECTS.length + 1)))
      .sort();
  }

  /**
   * The runs on `host`'s subject, from its messages' headers. Batches of a run whose hello the
   * stream's retention cut are not a run that can be read (no capture header): they are left out.
   */
  private async index(host: string): Promise<RunIndex[]> {
    const subject = batchSubject(host);
    const jsm = await this.jsm();
    const last = await jsm.streams.getMessage(STREAM, { last_by_subj: subject });
    if (last === null) return [];
    // By run: two agents given one --host interleave their runs (docs/fleet.md says not to), and
    // each run is still read whole.
    const runs = new Map<string, RunIndex>();
    for await (const m of this.messages(subject, 1, last.seq, true, LIST_AHEAD)) {
      const id = parseMessageId(m.headers?.get('Nats-Msg-Id'));
      const kind = m.headers?.get(KIND_HEADER);
      if (id === undefined) continue;
      const at = m.seq;
      const time = Number(m.timestampNanos / 1_000_000n);
      if (kind === 'hello') {
        if (!runs.has(id.run))
          runs.set(id.run, {
            host,
            run: id.run,
            helloAt: at,
            seqs: [],
            ats: [],
            bytes: 0,
            ended: false,
            storedFrom: time,
            storedTo: time,
            lastAt: at,
          });
        continue;
      }
      const r = runs.get(id.run);
      if (r === undefined) continue;
      // A batch stored twice (resent after the duplicate window) counts once, as it is read once.
      if (kind === 'batch' && typeof id.what === 'number' && id.what <= (r.seqs.at(-1) ?? 0)) continue;
      r.storedTo = time;
      r.lastAt = at;
      if (kind === 'end') r.ended = true;
      else if (kind === 'batch' && typeof id.what === 'number') {
        r.seqs.push(id.what);
        r.ats.push(at);
        r.bytes += Math.max(0, Number(m.headers?.get('Nats-Msg-Size') ?? 0) - BATCH_HEAD);
      }
    }
    return [...runs.values()];
  }

  /**
   * The messages of `subject` from stream sequence `from` to `to`, in order, fetched `ahead` at a
   * time by an ordered consumer; ends early when the stream holds no more of them (retention).
   */
  private async *messages(subject: string, from: number, to: number, headersOnly: boolean, ahead: number): AsyncGenerator<JsMsg> {
    const js = jetstream(this.nc);
    const consumer = await js.consumers.get(STREAM, {
      filter_subjects: subject,
      headers_only: headersOnly,
      ...(from > 1 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from } : {}),
    });
    try {
      for (;;) {
        let got = 0;
        const batch = await consumer.fetch({ max_messages: ahead, expires: FETCH_MS });
        for await (const m of batch) {
          got++;
          if (m.seq > to) return;
          yield m;
          if (m.seq === to) return;
        }
        if (got === 0) return;
      }
    } finally {
      // Ordered consumers are ephemeral (the server drops them once idle); gone at once is tidier.
      // Before its first fetch it has no name yet, and delete throws there.
      try {
        await consumer.delete();
      } catch {}
    }
  }

  /** The run's hello, or why it cannot head a capture (gone meanwhile, or not a hello with a header this lifetrace reads). */
  private async hello(r: RunIndex): Promise<Result<AgentHello>> {
    const m = await (await this.jsm()).streams.getMessage(STREAM, { seq: r.helloAt });
    if (m === null) return err('its hello is no longer on the stream');
    let v: Partial<AgentHello> | undefined;
    try {
      v = m.json<Partial<AgentHello>>();
    } catch {
      v = undefined;
    }
    if (typeof v !== 'object' || v === null || v.type !== 'hello') return err('its hello is not an agent hello');
    const header = checkHeader(v.header);
    if (!header.ok) return err(`its hello's capture header is not one this lifetrace reads: ${header.error}`);
    return ok(v as AgentHello);
  }

  /** The run's listing entry: its hello, and the kernel times of its first and last batch. */
  private async view(r: RunIndex, h: AgentHello): Promise<StreamRun> {
    let base: bigint | undefined;
    let first: bigint | undefined;
    let last: bigint | undefined;
    if (r.ats.length > 0) {
      // The first and last batches that hold records: a live agent's first batch may hold only the
      // probes' attach line, its last only the exit maps.
      const ta = await this.timesOf(r.ats.slice(0, TIME_PROBES));
      const tb = await this.timesOf(r.ats.slice(-TIME_PROBES).reverse());
      if (ta?.first !== undefined) base = (ta.first / 1_000_000_000n) * 1_000_000_000n;
      first = ta?.min;
      last = tb?.max;
    }
    const firstSeq = r.seqs[0] ?? 0;
    const lastSeq = r.seqs.at(-1) ?? 0;
    return {
      host: r.host,
      run: r.run,
      mode: h.mode,
      label: h.label ?? null,
      kernel: typeof h.header.kernel === 'string' ? h.header.kernel : '',
      first_seq: firstSeq,
      last_seq: lastSeq,
      missing: lastSeq - r.seqs.length,
      base_ns: base === undefined ? null : String(base),
      first_s: seconds(first, base),
      last_s: seconds(last, base),
      stored_from: new Date(r.storedFrom).toISOString(),
      stored_to: new Date(r.storedTo).toISOString(),
      bytes: r.bytes,
      ended: r.ended,
    };
  }

  /** The times of the first of these batches (stream sequences) that holds records. */
  private async timesOf(ats: readonly number[]): Promise<{ first: bigint; min: bigint; max: bigint } | undefined> {
    const jsm = await this.jsm();
    for (const seq of ats) {
      const m = await jsm.streams.getMessage(STREAM, { seq });
      const t = m === null ? undefined : this.times(m.data.subarray(BATCH_HEAD));
      if (t !== undefined) return t;
    }
    return undefined;
  }

  /** The kernel times of a batch's records: its first line's, the earliest and the latest. */
  private times(payload: Uint8Array): { first: bigint; min: bigint; max: bigint } | undefined {
    let t: { first: bigint; min: bigint; max: bigint } | undefined;
    for (const line of splitLines(payload)) {
      const ns = this.recordTime(line);
      if (ns === undefined) continue;
      const v = BigInt(ns);
      if (t === undefined) t = { first: v, min: v, max: v };
      else {
        if (v < t.min) t.min = v;
        if (v > t.max) t.max = v;
      }
    }
    return t;
  }

  /**
   * Where a read from kernel time `fromNs` starts, from batch index `first` on: by bisection over
   * the batches held (a few reads of one batch each, not the run's start). A batch whose every
   * record is older than fromNs by more than LATE_NS has only older ones before it (bpftrace prints
   * no record later than that after a newer one), so the read starts after the last such batch.
   */
  private async firstFrom(r: RunIndex, first: number, fromNs: bigint): Promise<number> {
    const jsm = await this.jsm();
    let lo = first;
    let hi = r.ats.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const m = await jsm.streams.getMessage(STREAM, { seq: r.ats[mid]! });
      const t = m === null ? undefined : this.times(m.data.subarray(BATCH_HEAD));
      if (t !== undefined && t.max + LATE_NS < fromNs) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * The capture: the header line, then batch after batch of the range. A batch is read when its
   * sequence number is in range; with a time range, only its records in range are kept (and its
   * other lines when it holds any, or none at all: losses, diagnostics), and reading stops at a
   * batch whose every record is past to_s by more than LATE_NS. A batch missing between two read
   * (or before the first, when the range starts at the run's start) is a `lifetrace_gap`.
   */
  private async *lines(r: RunIndex, hello: AgentHello, view: StreamRun, range: RunRange): AsyncGenerator<Uint8Array> {
    yield Buffer.from(`${serializeHeader(hello.header as CaptureHeader)}\n`);
    const base = view.base_ns === null ? 0n : BigInt(view.base_ns);
    const fromNs = range.from_s === undefined ? undefined : base + BigInt(Math.round(range.from_s * 1e9));
    const toNs = range.to_s === undefined ? undefined : base + BigInt(Math.round(range.to_s * 1e9));
    const fromSeq = range.from_seq ?? 1;
    const toSeq = range.to_seq ?? Infinity;
    const first = r.seqs.findIndex((s) => s >= fromSeq);
    if (first < 0) return;
    const i = fromNs === undefined ? first : await this.firstFrom(r, first, fromNs);
    const wholeTime = fromNs === undefined && toNs === undefined;
    // The next batch sequence number the range asks for (after a batch skipped as before from_s: one missing after it may not be).
    let expected = i > first ? r.seqs[i - 1]! + 1 : fromSeq;
    let lastMax: bigint | undefined; // the latest record time read so far
    let started = false; // a record (or a whole batch) of the range has been read
    for await (const m of this.messages(batchSubject(r.host), r.ats[i]!, r.lastAt, false, READ_AHEAD)) {
      const id = parseMessageId(m.headers?.get('Nats-Msg-Id'));
      if (id === undefined || id.run !== r.run || m.headers?.get(KIND_HEADER) !== 'batch' || typeof id.what !== 'number') continue;
      this.batchesRead++;
      if (id.what < expected) continue; // before the range, or stored twice (resent after the duplicate window)
      const payload = m.data.subarray(BATCH_HEAD);
      const t = this.times(payload);
      if (toNs !== undefined && t !== undefined && t.min > toNs + LATE_NS) return;
      const before = fromNs !== undefined && (t === undefined ? !started : t.max < fromNs);
      const after = toNs !== undefined && t !== undefined && t.min > toNs;
      // Batches expected..id.what-1 are not on the stream: the capture says so where they were, when
      // the range asks for them (by sequence number, or by time around what was read).
      if (id.what > expected && (started || fromNs === undefined || !before)) {
        const next = t?.min ?? lastMax ?? base;
        yield gapLine(lastMax ?? next, next, expected, Math.min(id.what - 1, toSeq), r.run, 'are not on the stream (cut by its retention)');
      }
      if (id.what > toSeq) return;
      expected = id.what + 1;
      if (t !== undefined) lastMax = lastMax === undefined || t.max > lastMax ? t.max : lastMax;
      if (before || after) continue;
      if (wholeTime) {
        started = true;
        yield payload;
        continue;
      }
      const kept: Uint8Array[] = [];
      for (const line of splitLines(payload)) {
        const ns = this.recordTime(line);
        if (ns === undefined) kept.push(line);
        else {
          const v = BigInt(ns);
          if ((fromNs === undefined || v >= fromNs) && (toNs === undefined || v <= toNs)) kept.push(line);
        }
      }
      started = true;
      if (kept.length > 0) yield Buffer.concat(kept);
    }
    const upTo = Math.min(toSeq, view.last_seq);
    if (expected <= upTo && (started || fromNs === undefined))
      yield gapLine(lastMax ?? base, lastMax ?? base, expected, upTo, r.run, 'left the stream while it was read');
  }
}

/** Why a range is not one, or undefined. */
export function rangeProblem(r: RunRange): string | undefined {
  for (const k of ['from_s', 'to_s'] as const) {
    const v = r[k];
    if (v !== undefined && (!Number.isFinite(v) || v < 0 || v > 1e9))
      return `${k} must be a number of seconds from 0 (from the run's base_ns)`;
  }
  for (const k of ['from_seq', 'to_seq'] as const) {
    const v = r[k];
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 1)) return `${k} must be a batch sequence number (an integer from 1)`;
  }
  if (r.from_s !== undefined && r.to_s !== undefined && r.from_s > r.to_s) return 'from_s is after to_s';
  if (r.from_seq !== undefined && r.to_seq !== undefined && r.from_seq > r.to_seq) return 'from_seq is after to_seq';
  return undefined;
}

/** A `lifetrace_gap` for batches first..last of `run` (docs/capture-format.md): from..to ordered, as a gap must be. */
function gapLine(a: bigint, b: bigint, first: number, last: number, run: string, why: string): Uint8Array {
  const [from, to] = a <= b ? [a, b] : [b, a];
  const reason = `batches ${first} to ${last} of run ${run} ${why}`;
  return Buffer.from(`${JSON.stringify({ type: 'lifetrace_gap', data: { from: String(from), to: String(to), reason } })}\n`);
}

const seconds = (ns: bigint | undefined, base: bigint | undefined): number | null =>
  ns === undefined || base === undefined ? null : Number(ns - base) / 1e9;

/** A batch's lines, each with its newline (a batch ends with one). */
function* splitLines(payload: Uint8Array): Generator<Uint8Array> {
  let start = 0;
  for (;;) {
    const nl = payload.indexOf(10, start);
    if (nl < 0) return;
    yield payload.subarray(start, nl + 1);
    start = nl + 1;
  }
}
