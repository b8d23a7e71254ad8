/** The agent's source that replays a capture file as if it were live (simulation, demos, benchmarks). */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { CAPTURE_FORMAT, CAPTURE_VERSION, looksLikeHeader, parseHeader, type CaptureHeader } from '../capture/header.js';
import { LineSplitter, textLines } from '../capture/lines.js';
import { openCapture } from '../capture/open.js';
import { printfNsecsOf } from '../decode/envelope.js';
import type { Family } from '../model/events.js';
import { err, ok, type Result } from '../support/result.js';
import { rulesFor, tagsOfFamilies, type LineSource } from './sources.js';

export type ReplaySpeed = number | 'max';

/**
 * A capture file replayed: at `speed` times the pace of its kernel timestamps, or as fast as the
 * server takes it ('max', with flow control). The header line goes in the hello, not in the stream.
 * `given` is the path as the user gave it (messages name it; the dashboard's label is its absolute
 * path); an error when there is no such file or its header is not one this lifetrace reads.
 */
export async function replaySource(given: string, speed: ReplaySpeed, host = hostname()): Promise<Result<LineSource>> {
  const path = resolve(given);
  const read = await readHeader(path, host).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return err(`no such capture: ${given}`);
    throw e;
  });
  if (!read.ok) return read;
  const header = read.value;
  const tags = tagsOfFamilies(Object.keys(header.families) as Family[]);
  let stopped = false;
  let wake: (() => void) | undefined;
  return ok({
    info: { header: { ...header, replay_speed: speed }, mode: 'replay', label: path, rules: rulesFor(tags) }, // see HostSession.pace
    async run(onLine, wait) {
      const stream = await openCapture(path);
      let first = true;
      let t0 = -1;
      let wall0 = 0;
      // Each line's bytes, copied out of the chunk and sent on as they are: never decoded to text.
      const pending: (Buffer | string)[] = [];
      const split = new LineSplitter(
        (buf, start, end) => {
          if (first) {
            first = false;
            if (looksLikeHeader(buf.toString('utf8', start, end))) return;
          }
          pending.push(Buffer.from(buf.subarray(start, end)));
        },
        undefined,
        (_lineNo, bytes) => {
          // Too long for any record (or a frame): the server counts it in its place, as analyze does.
          first = false;
          pending.push(JSON.stringify({ type: 'lifetrace_long_line', data: { bytes } }));
        },
      );
      try {
        for await (const chunk of stream) {
          split.push(chunk as Buffer);
          for (const line of pending) {
            if (stopped) return 'stopped';
            if (speed !== 'max') {
              const ns = typeof line === 'string' ? undefined : printfNsecsOf(line); // a long line's stand-in has no time
              if (ns !== undefined) {
                const t = Number(ns) / 1e6; // ms; sub-ms precision is plenty for pacing
                if (t0 < 0) {
                  t0 = t;
                  wall0 = performance.now();
                }
                const due = wall0 + (t - t0) / speed - performance.now();
                if (due > 2)
                  await new Promise<void>((r) => {
                    wake = r;
                    setTimeout(r, due);
                  });
              }
            }
            onLine(line);
          }
          pending.length = 0;
          await wait();
        }
        split.end();
        for (const line of pending) onLine(line);
      } catch (e) {
        return `the capture could not be read to its end: ${(e as Error).message}`;
      } finally {
        void stream.return(undefined);
      }
      return stopped ? 'stopped' : 'end of capture';
    },
    stop() {
      stopped = true;
      wake?.();
    },
  });
}

/** The capture's header, or one made up for a raw bpftrace file without one. */
async function readHeader(path: string, host: string): Promise<Result<CaptureHeader>> {
  const stream = await openCapture(path);
  let firstLine: string | undefined;
  const split = new LineSplitter(
    textLines((line) => {
      firstLine ??= line;
    }),
  );
  for await (const chunk of stream) {
    split.push(chunk as Buffer);
    if (firstLine !== undefined) break;
  }
  void stream.return(undefined);
  if (firstLine !== undefined && looksLikeHeader(firstLine)) {
    const h = parseHeader(firstLine);
    return h.ok ? ok({ ...h.value, host }) : err(`${path}: ${h.error}`);
  }
  return ok({
    format: CAPTURE_FORMAT,
    version: CAPTURE_VERSION,
    created: new Date().toISOString(),
    host,
    kernel: 'unknown',
    families: {},
    lifetrace_version: 'unknown',
  });
}
