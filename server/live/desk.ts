/**
 * The capture desk: recording hosts' streams into the library, deleting captures, and replaying
 * them on the server with controls. It owns the server replays and the library; the sessions are
 * hosts.ts's, which it asks for (a replay opens its host's session there).
 */
import { mkdir } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { RangeRead, RunRange, StreamRanges } from '../fleet/stream-ranges.js';
import type { CaptureInfo, ReplayCommand, ReplayView, StreamRun } from '../shared/wire.js';
import { recordingName, type CaptureLibrary } from './captures.js';
import type { LiveSession } from './host-session.js';
import type { HostSessions } from './hosts.js';
import { HttpError } from './http-error.js';
import { Recording } from './recording.js';
import { ServerReplay, type Speed } from './replay.js';
import type { StorageState } from './storage.js';

/**
 * Most server-side replays playing at once (each holds a host slot and, at full speed, a core);
 * a finished or stopped one holds nothing and is forgotten first when a slot is needed.
 */
export const MAX_SERVER_REPLAYS = 8;

/** Most bytes of a stream range saved into the library (as an upload). */
const MAX_SAVED_RANGE_BYTES = 4 * 1024 ** 3;

export class CaptureDesk {
  private readonly replays = new Map<string, ServerReplay>();

  constructor(
    private readonly hosts: HostSessions,
    readonly library: CaptureLibrary | undefined,
    private readonly storage: StorageState,
    private readonly clock: () => number,
    /** The fleet's stream, when the server has a NATS connection (its runs read as captures); set once it is connected. */
    public streams?: StreamRanges | undefined,
  ) {}

  /** The agent runs on the fleet's stream (none when the server reads no stream). */
  async streamRuns(): Promise<StreamRun[]> {
    return this.streams === undefined ? [] : unavailable(this.streams.list());
  }

  /** A range of a run on the stream, as capture bytes; unknown host or run 404, a bad range 400. */
  async streamRange(host: string, run: string, range: RunRange): Promise<RangeRead> {
    if (this.streams === undefined) throw new HttpError(404, 'this server reads no NATS stream (serve --nats)');
    const r = await unavailable(this.streams.read(host, run, range));
    if (!r.ok)
      throw r.error.kind === 'not-found' ? new HttpError(404, r.error.message) : new HttpError(400, r.error.message, 'bad-request');
    return r.value;
  }

  /**
   * Writes a range of a run on the stream into the library as the capture `name` (gzip when it ends
   * in .gz), through the library's upload path: never over a capture, counted as its writes are.
   */
  async saveStreamRange(host: string, run: string, name: string, range: RunRange): Promise<CaptureInfo> {
    const lib = this.requireLibrary();
    lib.path(name); // a refused name answers 400 before the stream is read
    const read = await this.streamRange(host, run, range);
    const lines = Readable.from(read.bytes, { objectMode: false });
    const body = name.endsWith('.gz') ? lines.pipe(createGzip()) : lines;
    if (body !== lines) {
      lines.on('error', (e) => body.destroy(e));
      // The library gave up on it (too large, the disk full): the stream's read ends too, its consumer with it.
      body.on('close', () => lines.destroy());
    }
    return lib.store(name, body, MAX_SAVED_RANGE_BYTES);
  }

  /** The server replay playing into `host`, if there is one. */
  replayOf(host: string): ServerReplay | undefined {
    return this.replays.get(host);
  }

  /** Starts recording the stream of `host` (every streaming host when undefined) into the library. */
  async record(host: string | undefined, prefix?: string): Promise<{ host: string; name: string }[]> {
    const lib = this.requireLibrary();
    // Every streaming host that can be recorded here; a host named must be one.
    const targets = [...this.hosts.values()].filter((s) =>
      host === undefined ? !s.ended && s.notRecordable === undefined : s.host === host,
    );
    if (host !== undefined && targets.length === 0) throw new HttpError(404, `no host ${host}`);
    const why = targets.find((s) => s.notRecordable !== undefined)?.notRecordable;
    if (why !== undefined) throw new HttpError(409, why);
    if (prefix !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,60}$/.test(prefix))
      throw new HttpError(400, 'name must be letters, digits, . _ - (up to 60)');
    await mkdir(lib.dir, { recursive: true, mode: 0o700 });
    const started: { host: string; name: string }[] = [];
    for (const s of targets) {
      if (s.recording !== undefined && !s.recording.failed) continue;
      if (s.ended) throw new HttpError(409, `host ${s.host}'s stream has ended`);
      let name = recordingName(s.host, new Date(this.clock()), prefix);
      for (let n = 2; lib.active.has(name) || (await lib.exists(name)); n++) {
        if (n > 100) throw new HttpError(409, `${name} exists already`);
        name = name.replace(/(-\d+)?\.ljsonl\.gz$/, `-${n}.ljsonl.gz`);
      }
      lib.active.add(name);
      s.startRecording(new Recording(name, lib.path(name), s.headerLine(), this.storage));
      started.push({ host: s.host, name });
    }
    return started;
  }

  /** Stops recording `host` (every host when undefined); returns the captures written. */
  async stopRecording(host?: string): Promise<string[]> {
    const done: string[] = [];
    for (const s of this.hosts.values()) {
      if (host !== undefined && s.host !== host) continue;
      const name = await this.finishRecording(s);
      if (name !== undefined) done.push(name);
    }
    return done;
  }

  /** Ends what `s` was recording (its stream ended, or it was replaced or forgotten); the capture's name. */
  async finishRecording(s: LiveSession): Promise<string | undefined> {
    const r = s.detachRecording();
    if (r === undefined) return undefined;
    await r.stop();
    if (!this.library?.active.has(r.name)) return undefined;
    this.library.active.delete(r.name);
    return r.name;
  }

  /** Replays a capture of the library as a host of its own; returns the host's name. */
  async replay(name: string, speed: Speed, loop = false): Promise<string> {
    const lib = this.requireLibrary();
    const path = lib.pathOf(name);
    if (!path.ok) throw new HttpError(400, path.error);
    if (!(await lib.exists(name))) throw new HttpError(404, `no capture ${name}`);
    return this.replayFile(path.value, `replay-${name.replace(/\.ljsonl(\.gz)?$/, '')}`.slice(0, 128), speed, loop);
  }

  /** Replays a file (the `lifetrace replay` command, or the library). */
  async replayFile(path: string, host: string, speed: Speed, loop: boolean): Promise<string> {
    this.dropReplay(host);
    if (this.activeReplays >= MAX_SERVER_REPLAYS) {
      throw new HttpError(409, `${MAX_SERVER_REPLAYS} replays are playing: stop one first`);
    }
    const r: ServerReplay = new ServerReplay(this.hosts, path, host, {
      speed,
      loop,
      forgotten: () => {
        if (this.replays.get(host) === r) this.replays.delete(host);
      },
    });
    this.replays.set(host, r);
    // Nothing of a replay that could not start stays behind.
    const forgetIt = (): void => {
      if (this.replays.get(host) === r) this.dropReplay(host);
    };
    const started = await r.start().catch((e: unknown) => {
      forgetIt();
      throw e;
    });
    if (!started.ok) {
      forgetIt();
      throw new HttpError(409, started.error);
    }
    return host;
  }

  replayCommand(host: string, c: ReplayCommand): Promise<ReplayView> {
    const r = this.replays.get(host);
    if (r === undefined) throw new HttpError(404, `host ${host} is not a server-side replay`);
    if (c.action === 'stop') {
      this.dropReplay(host);
      return Promise.resolve(r.view());
    }
    return r.command(c);
  }

  /** Server replays playing (not finished, not stopped). */
  get activeReplays(): number {
    let n = 0;
    for (const r of this.replays.values()) if (!r.idle) n++;
    return n;
  }

  /** Stops a server replay and lets go of it: its host stays, disconnected, until its slot is needed. */
  dropReplay(host: string): void {
    const r = this.replays.get(host);
    if (r === undefined) return;
    r.stop();
    this.replays.delete(host);
    this.hosts.detach(host, r);
  }

  /** Deletes a capture of the library, unless it is being recorded or replayed. */
  async removeCapture(name: string): Promise<boolean> {
    const lib = this.requireLibrary();
    const path = lib.path(name);
    if ([...this.replays.values()].some((r) => r.reads(path)))
      throw new HttpError(409, `${name} is being replayed: stop that replay first`);
    return lib.remove(name);
  }

  /** The server stops: replays stop, recordings are finished. */
  async stop(): Promise<void> {
    for (const host of [...this.replays.keys()]) this.dropReplay(host);
    await this.stopRecording();
  }

  private requireLibrary(): CaptureLibrary {
    if (this.library === undefined) throw new HttpError(409, 'this server has no capture folder');
    return this.library;
  }
}

/** The broker not answering (down, refusing these credentials): 503 with why, counted as `stream-unavailable`. */
async function unavailable<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw new HttpError(503, `the NATS stream cannot be read now: ${(e as Error).message}`, 'stream-unavailable');
  }
}
