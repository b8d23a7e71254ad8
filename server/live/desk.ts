/**
 * The capture desk: recording hosts' streams into the library, deleting captures, and replaying
 * them on the server with controls. The Hub owns the hosts; this works on them.
 */
import { mkdir } from 'node:fs/promises';
import type { ReplayCommand, ReplayView } from '../shared/wire.js';
import { recordingName, type CaptureLibrary } from './captures.js';
import type { Hub } from './hub.js';
import { HubRefusal } from './refusal.js';
import { Recording } from './recording.js';
import { ReplayError, ServerReplay, type Speed } from './replay.js';

/**
 * Most server-side replays playing at once (each holds a host slot and, at full speed, a core);
 * a finished or stopped one holds nothing and is forgotten first when a slot is needed.
 */
export const MAX_SERVER_REPLAYS = 8;

export class CaptureDesk {
  constructor(private readonly hub: Hub) {}

  /** Starts recording the stream of `host` (every streaming host when undefined) into the library. */
  async record(host: string | undefined, prefix?: string): Promise<{ host: string; name: string }[]> {
    const lib = this.library();
    const targets = [...this.hub.sessions.values()].filter((s) => (host === undefined ? !s.ended : s.host === host));
    if (host !== undefined && targets.length === 0) throw new HubRefusal(404, `no host ${host}`);
    if (prefix !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,60}$/.test(prefix))
      throw new HubRefusal(400, 'name must be letters, digits, . _ - (up to 60)');
    await mkdir(lib.dir, { recursive: true, mode: 0o700 });
    const started: { host: string; name: string }[] = [];
    for (const s of targets) {
      if (s.recording !== undefined && !s.recording.failed) continue;
      if (s.ended) throw new HubRefusal(409, `host ${s.host}'s stream has ended`);
      let name = recordingName(s.host, new Date(this.hub.options.clock()), prefix);
      for (let n = 2; lib.active.has(name) || (await lib.exists(name)); n++) {
        if (n > 100) throw new HubRefusal(409, `${name} exists already`);
        name = name.replace(/(-\d+)?\.ljsonl\.gz$/, `-${n}.ljsonl.gz`);
      }
      lib.active.add(name);
      s.recording = new Recording(name, lib.path(name), s.headerLine(), this.hub.storage);
      started.push({ host: s.host, name });
    }
    return started;
  }

  /** Stops recording `host` (every host when undefined); returns the captures written. */
  async stopRecording(host?: string): Promise<string[]> {
    const done: string[] = [];
    for (const s of this.hub.sessions.values()) {
      if (s.recording === undefined || (host !== undefined && s.host !== host)) continue;
      const r = s.recording;
      // A failed recording stays on the host, so that its error stays in view until the next one.
      if (!r.failed) s.recording = undefined;
      await r.stop();
      if (!this.hub.library?.active.has(r.name)) continue;
      this.hub.library?.active.delete(r.name);
      done.push(r.name);
    }
    return done;
  }

  /** Replays a capture of the library as a host of its own; returns the host's name. */
  async replay(name: string, speed: Speed, loop = false): Promise<string> {
    const lib = this.library();
    let path: string;
    try {
      path = lib.path(name);
    } catch (e) {
      throw new HubRefusal(400, (e as Error).message);
    }
    if (!(await lib.exists(name))) throw new HubRefusal(404, `no capture ${name}`);
    return this.replayFile(path, `replay-${name.replace(/\.ljsonl(\.gz)?$/, '')}`.slice(0, 128), speed, loop);
  }

  /** Replays a file (the `lifetrace replay` command, or the library). */
  async replayFile(path: string, host: string, speed: Speed, loop: boolean): Promise<string> {
    this.hub.dropReplay(host);
    if (this.hub.activeReplays >= MAX_SERVER_REPLAYS) {
      throw new HubRefusal(409, `${MAX_SERVER_REPLAYS} replays are playing: stop one first`);
    }
    const r = new ServerReplay(this.hub, path, host, { speed, loop });
    this.hub.replays.set(host, r);
    try {
      await r.start();
    } catch (e) {
      // Nothing of a replay that could not start stays behind.
      if (this.hub.replays.get(host) === r) this.hub.dropReplay(host);
      throw e instanceof ReplayError ? new HubRefusal(409, e.message) : e;
    }
    return host;
  }

  replayCommand(host: string, c: ReplayCommand): Promise<ReplayView> {
    const r = this.hub.replays.get(host);
    if (r === undefined) throw new HubRefusal(404, `host ${host} is not a server-side replay`);
    if (c.action === 'stop') {
      this.hub.dropReplay(host);
      return Promise.resolve(r.view());
    }
    return r.command(c);
  }

  /** Deletes a capture of the library, unless it is being recorded or replayed. */
  async removeCapture(name: string): Promise<boolean> {
    const lib = this.library();
    const path = lib.path(name);
    if ([...this.hub.replays.values()].some((r) => r.reads(path)))
      throw new HubRefusal(409, `${name} is being replayed: stop that replay first`);
    return lib.remove(name);
  }

  private library(): CaptureLibrary {
    if (this.hub.library === undefined) throw new HubRefusal(409, 'this server has no capture folder');
    return this.hub.library;
  }
}
