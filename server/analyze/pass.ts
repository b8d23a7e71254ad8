/**
 * One whole analysis of a capture file for a process that must go on answering (the server's
 * replays of uploaded and library captures): it runs on a worker thread whatever the file's size (a
 * small gzip can hold minutes of work), and only its digest comes back.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { CaptureHeader } from '../capture/header.js';
import type { Result } from '../support/result.js';
import { analyzeFile } from './pipeline.js';

/** What a replay needs to know of a capture before it plays it. */
export interface CaptureDigest {
  /** Undefined when the capture has none. */
  header: CaptureHeader | undefined;
  lines: number;
  /** Why the file could not be read to its end. */
  inputError: string | undefined;
  /** The last line had no newline: its number and what the decoder said. */
  truncated: { line: number; message: string } | undefined;
  firstT: number | undefined;
  lastT: number | undefined;
  /** For each flag raised, the time of the record that raised it (in raising order). */
  raisedT: number[];
}

/** The digest, worked out on this thread. */
export async function digestCapture(path: string): Promise<CaptureDigest> {
  // The flag's own time can be earlier than the record that raised it (e.g. the close that a later
  // event under the dead fd number reveals): the replay wants the latter.
  const raisedT: number[] = [];
  const a = await analyzeFile(path, {}, (an) =>
    an.flags.onFlag((_f, isNew) => {
      if (isNew) raisedT.push(an.lastT ?? 0);
    }),
  );
  const truncated = a.decoder.anomalies.examples.find((x) => x.kind === 'truncated-line');
  return {
    header: a.decoder.info.header,
    lines: a.decoder.info.lines,
    inputError: a.inputError,
    truncated: truncated === undefined ? undefined : { line: truncated.line, message: truncated.message },
    firstT: a.firstT,
    lastT: a.lastT,
    raisedT,
  };
}

const WORKER = new URL('./pass-worker.js', import.meta.url);

/** What the worker answers: the digest, or what the error thrown in it said (its message, its errno code). */
export type DigestMessage = Result<CaptureDigest, { message: string; code: string | undefined }>;

/**
 * At most this many digests run at once (each is a thread, a core and its memory); more wait their
 * turn. Replays started in a burst then cost the server no more than this.
 */
export const MAX_CONCURRENT_DIGESTS = 2;
let running = 0;
const waiting: (() => void)[] = [];

/**
 * digestCapture on a worker thread: the event loop is never held, whatever the capture. Run from
 * the TypeScript sources (the in-process tests) there is no compiled worker, and it runs here.
 */
export async function digestOffThread(path: string): Promise<CaptureDigest> {
  if (!existsSync(fileURLToPath(WORKER))) return digestCapture(path);
  if (running < MAX_CONCURRENT_DIGESTS) running++;
  else await new Promise<void>((r) => waiting.push(r)); // a finishing digest hands its slot over
  try {
    return await digestOnWorker(path);
  } finally {
    const next = waiting.shift();
    if (next !== undefined) next();
    else running--;
  }
}

function digestOnWorker(path: string): Promise<CaptureDigest> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { workerData: { path } });
    let done = false;
    w.on('message', (m: DigestMessage) => {
      done = true;
      if (m.ok) resolve(m.value);
      else reject(Object.assign(new Error(m.error.message), m.error.code === undefined ? {} : { code: m.error.code }));
    });
    w.on('error', (e) => {
      done = true;
      reject(e);
    });
    w.on('exit', (code) => {
      if (!done) reject(new Error(`the analysis worker exited early (code ${code})`));
    });
  });
}
