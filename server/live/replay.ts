/**
 * A capture replayed by the server itself (`lifetrace replay`, or one picked from the library in
 * the page): its lines go through the same HostSession as an agent's, paced by their kernel
 * timestamps at `speed` (or as fast as the analysis goes), with play, pause, seek and "next flag".
 *
 * Seeking back starts the host's analysis over and runs it at full speed to the target: lifetimes
 * and flags at any point depend on everything before it. A first pass over the file gives the time
 * span and every flag's time (for the time axis and for "next flag").
 */
import { randomUUID } from 'node:crypto';
import { basename } from 'node:path';
import { digestOffThread } from '../analyze/pass.js';
import { looksLikeHeader, CAPTURE_FORMAT, CAPTURE_VERSION, type CaptureHeader } from '../capture/header.js';
import { LineSplitter, textLines } from '../capture/lines.js';
import { openCapture } from '../capture/open.js';
import { printfNsecs } from '../decode/envelope.js';
import { TimeBase } from '../model/time.js';
import { PROTOCOL_VERSION, type ReplayCommand, type ReplayView } from '../shared/wire.js';
import type { HostSession } from './host-session.js';
import type { Hub } from './hub.js';

export type Speed = number | 'max';

/** Lines (and bytes, lines may be long) handed to the session at once at full speed, and the pacing step. */
const BATCH_LINES = 2048;
const BATCH_BYTES = 1 << 20;
const STEP_MS = 20;
/** Waiting for a condition, the replay advances by this much trace at a time. */
const STEP_NS = 1_000_000;
const NEVER = (): boolean => false;

export class ReplayError extends Error {}

/** How LineReader queues a line it skipped as too long (capture/lines.ts MAX_LINE_BYTES): a newline and its length. */
const LONG_LINE = '\n';

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
async function firstPass(path: string): Promise<FirstPass> {
  const d = await digestOffThread(path);
  if (d.lines <= 1 && d.inputError) throw new ReplayError(d.inputError);
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
  return { header: h, error, start_s: s(d.firstT), end_s: s(d.lastT), flags_s: flags };
}

/** Pulls lines from a capture file, with the kernel time of each printf record. */
class LineReader {
  private readonly queue: string[] = [];
  private head = 0;
  private iterator: AsyncIterator<Buffer> | undefined;
  private done = false;
  /** A line too long to read is queued as LONG_LINE and its length (no line holds a newline). */
  private readonly split = new LineSplitter(
    textLines((line) => this.queue.push(line)),
    undefined,
    (_n, bytes) => this.queue.push(`${LONG_LINE}${bytes}`),
  );
  private first = true;
  readonly time = new TimeBase();
  error: string | undefined;

  constructor(private readonly path: string) {}

  /** The next line (the header line is skipped), or undefined at the end. */
  async next(): Promise<string | undefined> {
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
    const line = this.queue[this.head++]!;
    if (this.first) {
      this.first = false;
      if (looksLikeHeader(line)) return this.next();
    }
    return line;
  }

  /** Kernel time (relative ns, as the analysis counts it) of a printf line, or undefined. */
  timeOf(line: string): number | undefined {
    const ns = printfNsecs(line);
    return ns === undefined ? undefined : this.time.parse(ns);
  }

  close(): void {
    void this.iterator?.return?.();
  }
}

export class ServerReplay {
  private session!: HostSession;
  private reader!: LineReader;
  private pass!: FirstPass;
  private playing = true;
  private speed: Speed;
  /** Where the replay is, in kernel ns (relative): records up to here have been fed. */
  private position = 0;
  /** Wall time (ms) and position at the last (re)start of pacing. */
  private anchorWall = 0;
  private anchorPos = 0;
  private pending: string | undefined;
  private finished = false;
  private stopped = false;
  private wake: (() => void) | undefined;
  /** Commands and the playing loop read the same file: one at a time. */
  private lock: Promise<unknown> = Promise.resolve();

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn);
    this.lock = next.catch(() => {});
    return next;
  }

  constructor(
    private readonly hub: Hub,
    readonly path: string,
    readonly host: string,
    options: { speed: Speed; loop: boolean },
  ) {
    this.speed = options.speed;
    this.loop = options.loop;
  }

  private readonly loop: boolean;

  async start(): Promise<void> {
    this.pass = await firstPass(this.path);
    this.restart();
    void this.run().catch((e: Error) => {
      // Never an unhandled rejection: the replay stops and says why.
      this.stopped = true;
      this.runError = e.message;
    });
  }

  private runError: string | undefined;

  /** Finished (and not looping) or stopped: it holds its host's slot no longer. */
  get idle(): boolean {
    return this.stopped || (this.finished && !this.loop);
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
    this.session.analysis.holdAfter(Infinity); // a pause at a flag ends with any command
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
        break; // the hub stops it
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
    this.session.pace = this.pace();
    this.wake?.();
    return this.view();
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
    this.reader?.close();
  }

  /** A fresh analysis of the host from the first line. */
  private restart(): void {
    this.reader?.close();
    const old = this.hub.sessions.get(this.host);
    if (old !== undefined) old.connected = false;
    const s = this.hub.attach(
      {
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        run: randomUUID(),
        host: this.host,
        mode: 'replay',
        label: basename(this.path),
        header: { ...this.pass.header, host: this.host },
        rules: [],
      },
      { journal: false },
    );
    if (typeof s === 'string') throw new ReplayError(s);
    this.session = s;
    s.pace = this.pace();
    s.replayView = () => this.view();
    this.reader = new LineReader(this.path);
    this.position = this.pass.start_s * 1e9;
    this.pending = undefined;
    this.finished = false;
    this.anchor();
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
    if (to < this.position) this.restart();
    const a = this.session.analysis;
    a.holdAfter(to);
    await this.advanceUntil(NEVER, to + a.reorderWindowNs, false);
    a.releaseThrough(to);
    if (!this.finished) this.position = Math.max(this.pass.start_s * 1e9, to);
    this.anchor();
  }

  /** Feeds at full speed until `done()` or the records pass `limit`; `mayFinish`: the end of input ends the stream. */
  private async advanceUntil(done: () => boolean, limit: number, mayFinish = true): Promise<void> {
    while (!done() && !this.finished) {
      // Step by STEP_NS past the next record (over any gap in the trace), never past `limit`.
      const next = this.pending === undefined ? this.position : Math.max(this.position, this.reader.timeOf(this.pending) ?? this.position);
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
    const lines: string[] = [];
    let bytes = 0;
    let fed = 0;
    let atEnd = false;
    while (lines.length < BATCH_LINES && bytes < BATCH_BYTES) {
      const line = this.pending ?? (await this.reader.next());
      this.pending = undefined;
      if (line === undefined) {
        atEnd = true;
        break;
      }
      if (line.startsWith(LONG_LINE)) {
        // In its place among the lines: those before it go first.
        if (lines.length > 0) this.session.feed(Buffer.from(`${lines.join('\n')}\n`));
        lines.length = 0;
        this.session.skippedLongLine(Number(line.slice(LONG_LINE.length)));
        fed++;
        continue;
      }
      const t = this.reader.timeOf(line);
      if (t !== undefined && t > limit) {
        this.pending = line;
        break;
      }
      if (t !== undefined && t > this.position) this.position = t;
      lines.push(line);
      bytes += line.length;
      fed++;
    }
    if (lines.length > 0) this.session.feed(Buffer.from(`${lines.join('\n')}\n`));
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
      if (this.finished && this.loop) this.restart();
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
