/**
 * A capture replayed by the server itself (`lifetrace replay`, or one picked from the library in
 * the page): its lines go through the same HostSession as an agent's, paced by their kernel
 * timestamps at `speed` (or as fast as the analysis goes), with play, pause, seek and "next flag".
 *
 * Seeking back starts the host's analysis over and runs it at full speed to the target: lifetimes
 * and flags at any point depend on everything before it. A first pass over the file gives the time
 * span and every flag's time (for the time axis and for "next flag").
 *
 * The replay is its host's source (hosts.ts): it opens the host's session with an identity of its
 * own, never posing as an agent. Each line is read once, as the file's bytes (fed on unchanged), and
 * a record's kernel time is parsed once, as it is read.
 */
import { randomUUID } from 'node:crypto';
import { basename } from 'node:path';
import { digestOffThread } from '../analyze/pass.js';
import { looksLikeHeader, CAPTURE_FORMAT, CAPTURE_VERSION, type CaptureHeader } from '../capture/header.js';
import { LineSplitter } from '../capture/lines.js';
import { openCapture } from '../capture/open.js';
import { PRINTF_PREFIX } from '../decode/envelope.js';
import { nanosOf, secondsOf, TimeBase } from '../model/time.js';
import type { ReplayCommand, ReplayView } from '../shared/wire.js';
import { err, ok, type Result } from '../support/result.js';
import type { HostSession, SessionSource, StreamIdentity } from './host-session.js';

export type Speed = number | 'max';

/** Where a server replay gets its host's session (hosts.ts): a fresh one each time it starts over. */
export interface ReplayTarget {
  open(identity: StreamIdentity, source: SessionSource): Result<HostSession>;
}

/** Lines (and bytes, lines may be long) handed to the session at once at full speed, and the pacing step. */
const BATCH_LINES = 2048;
const BATCH_BYTES = 1 << 20;
const STEP_MS = 20;
/** Waiting for a condition, the replay advances by this much trace at a time. */
const STEP_NS = 1_000_000;
const NEVER = (): boolean => false;
const NEWLINE = Buffer.from('\n');

interface FirstPass {
  header: CaptureHeader;
  /** Why the file could not be read to its end (the replay shows what came before). */
  error: string | undefined;
  start_s: number;
  end_s: number;
  flags_s: number[];
}

/**
 * Reads the capture once through the real pipeline, off the event loop: span, flags, and a header if
 * it lacks one.
 */
async function firstPass(path: string): Promise<Result<FirstPass>> {
  const d = await digestOffThread(path);
  if (d.lines <= 1 && d.inputError) return err(d.inputError);
  const h = d.header ?? {
    format: CAPTURE_FORMAT,
    version: CAPTURE_VERSION,
    created: '',
    host: 'unknown',
    kernel: 'unknown',
    families: {},
    lifetrace_version: 'unknown',
  };
  const s = (t: number | undefined): number => Math.round(t ?? 0) / 1e9;
  const flags = d.raisedT.map(s).sort((x, y) => x - y);
  const error = d.inputError ?? (d.truncated ? `line ${d.truncated.line}: ${d.truncated.message}` : undefined);
  return ok({ header: h, error, start_s: s(d.firstT), end_s: s(d.lastT), flags_s: flags });
}

/**
 * One line of the capture, read once: its bytes as the file has them (without the newline) and, for a
 * printf record, its kernel time; or a line too long to read (capture/lines.ts MAX_LINE_BYTES), by its length.
 */
type Line = { bytes: Buffer; t: number | undefined } | { tooLong: number };

const PRINTF = Buffer.from(PRINTF_PREFIX);
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LETTER_T = 0x74;

/**
 * The kernel time (relative ns) of a printf record in bytes, read without decoding the record: the
 * decimal between the first two escaped tabs of its data (decode/envelope.ts printfNsecs, on bytes).
 */
function printfTime(b: Buffer, time: TimeBase): number | undefined {
  if (b.length < PRINTF.length || b.compare(PRINTF, 0, PRINTF.length, 0, PRINTF.length) !== 0) return undefined;
  let i = PRINTF.length;
  while (i < b.length && b[i] !== QUOTE && b[i] !== BACKSLASH) i++;
  if (b[i] !== BACKSLASH || b[i + 1] !== LETTER_T) return undefined;
  const from = i + 2;
  let j = from;
  while (j < b.length && j - from <= 20 && b[j]! >= 0x30 && b[j]! <= 0x39) j++;
  if (j === from || j - from > 20 || b[j] !== BACKSLASH || b[j + 1] !== LETTER_T) return undefined;
  return time.fromParts(secondsOf(b, from, j), nanosOf(b, from, j));
}

/** Pulls the lines of a capture file, each with the kernel time of a printf record, parsed once. */
class LineReader {
  private readonly queue: Line[] = [];
  private head = 0;
  private iterator: AsyncIterator<Buffer> | undefined;
  private done = false;
  private readonly split = new LineSplitter(
    (buf, start, end) => this.take(buf.subarray(start, end)),
    undefined,
    (_n, bytes) => {
      this.first = false;
      this.queue.push({ tooLong: bytes });
    },
  );
  private first = true;
  private readonly time = new TimeBase();
  error: string | undefined;

  constructor(private readonly path: string) {}

  /** The next line (the header line is skipped), or undefined at the end. */
  async next(): Promise<Line | undefined> {
    while (this.head === this.queue.length) {
      if (this.done) return undefined;
      this.queue.length = 0;
      this.head = 0;
      try {
        this.iterator ??= await openCapture(this.path);
        const r = await this.iterator.next();
        if (r.done) {
          this.done = true;
          this.split.end();
        } else {
          this.split.push(r.value);
        }
      } catch (e) {
        this.done = true;
        this.error = (e as Error).message;
        this.split.end(); // the last, partial line, as analyzeFile reads it
      }
    }
    return this.queue[this.head++]!;
  }

  close(): void {
    void this.iterator?.return?.();
  }

  /** A line as it is read: its record's time parsed; the header line dropped (the session starts with its own). */
  private take(bytes: Buffer): void {
    if (this.first) {
      this.first = false;
      if (looksLikeHeader(bytes.toString('utf8', 0, 16))) return;
    }
    this.queue.push({ bytes, t: printfTime(bytes, this.time) });
  }
}

/**
 * A server replay is its host's source (hosts.ts): it opens the host's session itself, with an
 * identity of its own (a fresh run each time it starts over), and feeds it.
 */
export class ServerReplay implements SessionSource {
  private session!: HostSession;
  private reader!: LineReader;
  private pass!: FirstPass;
  private playing = true;
  private speed: Speed;
  private readonly loop: boolean;
  /** Called when its host is forgotten (the desk lets go of it). */
  private readonly forgotten: () => void;
  /** Where the replay is, in kernel ns (relative): records up to here have been fed. */
  private position = 0;
  /** Wall time (ms) and position at the last (re)start of pacing. */
  private anchorWall = 0;
  private anchorPos = 0;
  /** A line read and not fed yet: it lies past the last limit. */
  private pending: Line | undefined;
  private finished = false;
  private stopped = false;
  private runError: string | undefined;
  private wake: (() => void) | undefined;
  /** Commands and the playing loop read the same file: one at a time. */
  private lock: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly target: ReplayTarget,
    readonly path: string,
    readonly host: string,
    options: { speed: Speed; loop: boolean; forgotten?: () => void },
  ) {
    this.speed = options.speed;
    this.loop = options.loop;
    this.forgotten = options.forgotten ?? (() => {});
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn);
    this.lock = next.catch(() => {});
    return next;
  }

  /** Reads the capture's span and flags, then plays; an error when it cannot be read or its host cannot be had. */
  async start(): Promise<Result<void>> {
    const pass = await firstPass(this.path);
    if (!pass.ok) return pass;
    this.pass = pass.value;
    const opened = this.restart();
    if (!opened.ok) return opened;
    void this.run().catch((e: Error) => {
      // Never an unhandled rejection: the replay stops and says why.
      this.fail(e.message);
    });
    return ok(undefined);
  }

  /** Finished (and not looping) or stopped: it holds its host's slot no longer. */
  get idle(): boolean {
    return this.stopped || (this.finished && !this.loop);
  }

  holdsSlot(): boolean {
    return !this.idle;
  }

  /** Its host was forgotten (the host limit): it stops, and its desk lets go of it. */
  forget(): void {
    this.stop();
    this.forgotten();
  }

  replayView(): ReplayView {
    return this.view();
  }

  /** Whether this replay reads `path`. */
  reads(path: string): boolean {
    return this.path === path && !this.stopped && !this.finished;
  }

  view(): ReplayView {
    return {
      capture: basename(this.path),
      playing: this.playing && !this.finished,
      speed: this.speed,
      start_s: this.pass.start_s,
      end_s: this.pass.end_s,
      position_s: Math.round(this.position) / 1e9,
      flags_s: this.pass.flags_s,
      finished: this.finished,
      error: this.runError ?? this.pass.error ?? this.reader?.error ?? null,
    };
  }

  command(c: ReplayCommand): Promise<ReplayView> {
    return this.exclusive(() => this.apply(c));
  }

  private async apply(c: ReplayCommand): Promise<ReplayView> {
    this.session.holdAfter(Infinity); // a pause at a flag ends with any command
    switch (c.action) {
      case 'play':
        if (this.finished) await this.seek(this.pass.start_s * 1e9);
        this.playing = true;
        this.anchor();
        break;
      case 'pause':
        this.playing = false;
        break;
      case 'speed':
        this.speed = c.speed;
        this.anchor();
        break;
      case 'seek':
        await this.seek(c.to_s * 1e9);
        break;
      case 'stop':
        break; // the desk stops it
      case 'next-flag': {
        const next = this.pass.flags_s.find((t) => t * 1e9 > this.position + 1);
        if (next !== undefined) {
          // Up to the record that raises it, and on until the reorderer has let it and every flag
          // before it through (a paused replay is not settled on wall time: flags the position has
          // passed may still be held), then pause.
          // The seek analyzes every record up to the one that raises it, and nothing after.
          await this.seek(next * 1e9 + 1);
          this.playing = false;
        }
        break;
      }
    }
    this.session.setPace(this.pace());
    this.wake?.();
    return this.view();
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
    this.reader?.close();
  }

  private fail(why: string): void {
    this.stopped = true;
    this.runError = why;
  }

  /** A fresh analysis of the host from the first line: a new run of the replay, in a new session. */
  private restart(): Result<void> {
    this.reader?.close();
    const s = this.target.open(
      {
        host: this.host,
        run: randomUUID(),
        mode: 'replay',
        label: basename(this.path),
        header: { ...this.pass.header, host: this.host },
        rules: [],
      },
      this,
    );
    if (!s.ok) return s;
    this.session = s.value;
    this.session.setPace(this.pace());
    this.reader = new LineReader(this.path);
    this.position = this.pass.start_s * 1e9;
    this.pending = undefined;
    this.finished = false;
    this.anchor();
    return ok(undefined);
  }

  /** The session's settling pace (HostSession.pace): kernel time passes only while playing, at the speed. */
  private pace(): number {
    return this.playing && this.speed !== 'max' ? this.speed : 0;
  }

  private anchor(): void {
    this.anchorWall = performance.now();
    this.anchorPos = this.position;
  }

  /**
   * To kernel time `to`, with the analysis exactly there: every record at or before it applied (those
   * another CPU printed later in the file too: the input is read on by the reorder window, then
   * released through `to`), none after it (they wait until the replay plays on).
   */
  private async seek(to: number): Promise<void> {
    if (to < this.position) {
      const again = this.restart();
      // Its host could not be had again (forgotten meanwhile): the replay stops and says why.
      if (!again.ok) return this.fail(again.error);
    }
    const s = this.session;
    s.holdAfter(to);
    await this.advanceUntil(NEVER, to + s.reorderWindowNs, false);
    s.releaseThrough(to);
    if (!this.finished) this.position = Math.max(this.pass.start_s * 1e9, to);
    this.anchor();
  }

  /** Feeds at full speed until `done()` or the records pass `limit`; `mayFinish`: the end of input ends the stream. */
  private async advanceUntil(done: () => boolean, limit: number, mayFinish = true): Promise<void> {
    while (!done() && !this.finished) {
      // Step by STEP_NS past the next record (over any gap in the trace), never past `limit`.
      const t = this.pending !== undefined && 'bytes' in this.pending ? this.pending.t : undefined;
      const next = Math.max(this.position, t ?? this.position);
      const fed = await this.feed(done === NEVER ? limit : Math.min(limit, next + STEP_NS), mayFinish);
      if (fed === 0) break; // the next record lies past `limit`
      // A seek can cross the whole capture: the sockets get their turn between batches.
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  /**
   * Feeds records up to kernel time `limit` (a batch at most); returns how many lines went in. At the
   * end of input the stream ends (flags pending at the end are raised) unless `mayFinish` is false
   * (a seek reading ahead: the next feed ends it).
   */
  private async feed(limit: number, mayFinish = true): Promise<number> {
    const batch = new Batch();
    let fed = 0;
    let atEnd = false;
    while (batch.lines < BATCH_LINES && batch.bytes < BATCH_BYTES) {
      const line = this.pending ?? (await this.reader.next());
      this.pending = undefined;
      if (line === undefined) {
        atEnd = true;
        break;
      }
      if ('tooLong' in line) {
        // In its place among the lines: those before it go first.
        batch.flush(this.session);
        this.session.skippedLongLine(line.tooLong);
        fed++;
        continue;
      }
      if (line.t !== undefined && line.t > limit) {
        this.pending = line;
        break;
      }
      if (line.t !== undefined && line.t > this.position) this.position = line.t;
      batch.add(line.bytes);
      fed++;
    }
    batch.flush(this.session);
    if (atEnd && mayFinish) this.finish(); // after the last lines went in
    return fed;
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.position = this.pass.end_s * 1e9;
    this.session.end();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (this.finished && this.loop) {
        const again = this.restart();
        if (!again.ok) return this.fail(again.error);
      }
      if (!this.playing || this.finished) {
        await new Promise<void>((r) => {
          this.wake = r;
          setTimeout(r, 250);
        });
        continue;
      }
      const fed = await this.exclusive(async () => {
        if (!this.playing || this.finished) return 0;
        const limit = this.speed === 'max' ? Infinity : this.anchorPos + (performance.now() - this.anchorWall) * 1e6 * this.speed;
        return this.feed(limit);
      });
      // At full speed, yield to the sockets between batches; paced, wait for the clock to move.
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, this.speed === 'max' ? 0 : fed === 0 ? STEP_MS : 0);
      });
    }
  }
}

/** Lines gathered for one feed: joined into one buffer, each ended by a newline, as a batch on the wire. */
class Batch {
  private readonly parts: Buffer[] = [];
  lines = 0;
  bytes = 0;

  add(line: Buffer): void {
    this.parts.push(line, NEWLINE);
    this.lines++;
    this.bytes += line.length;
  }

  flush(s: HostSession): void {
    if (this.lines === 0) return;
    s.feed(Buffer.concat(this.parts, this.bytes + this.lines));
    this.parts.length = 0;
    this.lines = 0;
    this.bytes = 0;
  }
}
