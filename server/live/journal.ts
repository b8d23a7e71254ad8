/**
 * What a host's agent has sent, as received, so that a restarted server can rebuild the host's
 * analysis and resume the agent exactly where it was: the hello, then every accepted batch frame
 * (head and lines, as on the wire), appended before the batch is acknowledged.
 *
 * DATA/journal/HOST/RUN.hello.json and RUN.frames (one run a host: a new run's journal replaces the
 * old one); removed when the stream ends, the host starts a new run or is forgotten.
 *
 * Every frame carries a checksum. A frame that is damaged (or cut short by a crash) is never data: the
 * reader skips to the next whole frame, and the batches it held are missing from the sequence, which
 * the session records as a loss window (HostSession.ingest). A write that fails (a full disk) stops
 * the journal, never the server: the live view goes on, and a restart resumes only up to there (the
 * rest is again a recorded loss). Names become paths through names.ts only; no symbolic link is
 * followed.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  rmdirSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { BATCH_HEAD, decodeBatchHead, type AgentHello, type JournalView } from '../shared/wire.js';
import { NameError, nameProblem, pathIn } from './names.js';
import type { StorageState } from './storage.js';

/**
 * A journal past this is given up (removed): a long stream would fill the disk. A server restarted
 * after that resumes the agent all the same; what the journal no longer held is a recorded loss.
 */
export const JOURNAL_MAX_BYTES = 2 * 1024 ** 3;
/** A frame claiming a bigger payload is damage (agents' frames are limited to 32 MiB). */
export const JOURNAL_MAX_FRAME = 64 << 20;
/** How much of a journal is read back (and analyzed) before the event loop gets a turn. */
const RESTORE_SLICE_BYTES = 4 << 20;

/** Each frame: MAGIC, the batch head, the payload size (u32 LE), the payload, then SUM bytes of checksum. */
const MAGIC = Buffer.from('LTJ2');
const PRE = MAGIC.length + BATCH_HEAD + 4;
const SUM = 8;
/** Open flags that refuse a symbolic link in the last component (the folders are checked with lstat). */
const NOFOLLOW = constants.O_NOFOLLOW;

/** The first SUM bytes of the SHA-256 of a frame's head, size and payload. */
function checksum(head: Uint8Array, size: Uint8Array, lines: Uint8Array): Buffer {
  return createHash('sha256').update(head).update(size).update(lines).digest().subarray(0, SUM);
}

export class JournalLinkError extends Error {}

/** Makes `dir` (mode 0700) and refuses it if it is a symbolic link or not a folder. */
function ownFolder(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (st.isSymbolicLink() || !st.isDirectory()) throw new JournalLinkError(`${dir} is a symbolic link or not a folder: not followed`);
}

function readFully(fd: number, buf: Buffer, at: number): boolean {
  for (let got = 0; got < buf.length; ) {
    const n = readSync(fd, buf, got, buf.length - got, at + got);
    if (n <= 0) return false;
    got += n;
  }
  return true;
}

interface Frame {
  seq: number;
  lines: Buffer;
  end: number;
}

/** The whole, undamaged frame at `at`, or undefined. */
function frameAt(fd: number, at: number, fileSize: number): Frame | undefined {
  if (at + PRE + SUM > fileSize) return undefined;
  const pre = Buffer.alloc(PRE);
  if (!readFully(fd, pre, at) || !pre.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const head = pre.subarray(MAGIC.length, MAGIC.length + BATCH_HEAD);
  const size = pre.readUInt32LE(MAGIC.length + BATCH_HEAD);
  if (size > JOURNAL_MAX_FRAME || at + PRE + size + SUM > fileSize) return undefined;
  const rest = Buffer.allocUnsafe(size + SUM);
  if (!readFully(fd, rest, at + PRE)) return undefined;
  const lines = rest.subarray(0, size);
  if (!checksum(head, pre.subarray(MAGIC.length + BATCH_HEAD), lines).equals(rest.subarray(size))) return undefined;
  const h = decodeBatchHead(head);
  if (typeof h === 'string') return undefined;
  return { seq: h.seq, lines, end: at + PRE + size + SUM };
}

/** The next whole frame after damage at `from`, or undefined when none is left. */
function nextFrame(fd: number, from: number, fileSize: number): { at: number; frame: Frame } | undefined {
  const chunk = Buffer.allocUnsafe(1 << 20);
  for (let pos = from; pos < fileSize; ) {
    const n = readSync(fd, chunk, 0, chunk.length, pos);
    if (n <= 0) return undefined;
    const seen = chunk.subarray(0, n);
    for (let i = seen.indexOf(MAGIC); i >= 0; i = seen.indexOf(MAGIC, i + 1)) {
      const frame = frameAt(fd, pos + i, fileSize);
      if (frame !== undefined) return { at: pos + i, frame };
    }
    if (pos + n >= fileSize) return undefined;
    pos += n - (MAGIC.length - 1); // a magic split across two chunks is found in the next
  }
  return undefined;
}

export interface Restored {
  journal: Journal;
  /** Damaged stretches skipped (never read as data; their batches are missing from the sequence). */
  damaged: number;
}

export class Journal {
  private fd: number | undefined;
  private offset: number;
  private error: string | null = null;

  /** `base`: DATA/journal/HOST/RUN, or undefined when the names were refused (nothing is on disk). */
  private constructor(
    private readonly base: string | undefined,
    fd: number | undefined,
    offset: number,
    private readonly storage: StorageState,
  ) {
    this.fd = fd;
    this.offset = offset;
  }

  /** A new journal for a run, replacing any other run's of the host; a stopped one (saying why) if it cannot be. */
  static create(dir: string, hello: AgentHello, storage: StorageState): Journal {
    let base: string | undefined;
    let fd: number | undefined;
    try {
      const hostDir = pathIn(dir, 'host', hello.host);
      base = pathIn(hostDir, 'run', hello.run);
      ownFolder(dir);
      ownFolder(hostDir);
      for (const e of readdirSync(hostDir)) {
        if (!e.startsWith(`${hello.run}.`) && (e.endsWith('.frames') || e.endsWith('.hello.json')))
          rmSync(join(hostDir, e), { force: true });
      }
      writeHello(base, hello);
      fd = openSync(`${base}.frames`, constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | NOFOLLOW, 0o600);
      storage.recovered();
      return new Journal(base, fd, 0, storage);
    } catch (e) {
      const j = new Journal(base, undefined, 0, storage);
      if (fd !== undefined) closeSync(fd);
      j.fail(e);
      return j;
    }
  }

  /** Whether a run's journal is on disk (something, link or not, where its frames would be: `restore` decides). */
  static exists(dir: string, hello: AgentHello): boolean {
    try {
      lstatSync(`${pathIn(pathIn(dir, 'host', hello.host), 'run', hello.run)}.frames`);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Reads a run's journal back: each whole, undamaged frame in order (to `frame`, saying whether damage was skipped before it). Returns the
   * journal, open for appending after the last whole frame, or undefined if there is none. A
   * damaged or missing hello file is written again from `hello` (the frames check themselves).
   */
  static async restore(
    dir: string,
    hello: AgentHello,
    storage: StorageState,
    frame: (seq: number, lines: Uint8Array, afterDamage: boolean) => void,
  ): Promise<Restored | undefined> {
    let base: string;
    let fd: number;
    try {
      const hostDir = pathIn(dir, 'host', hello.host);
      base = pathIn(hostDir, 'run', hello.run);
      const st = lstatSync(hostDir);
      if (st.isSymbolicLink() || !st.isDirectory()) throw new JournalLinkError(`${hostDir} is a symbolic link: not followed`);
      fd = openSync(`${base}.frames`, constants.O_RDWR | NOFOLLOW);
    } catch (e) {
      if (e instanceof NameError) storage.count('journal-bad-name');
      else if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
        storage.count(
          e instanceof JournalLinkError || (e as NodeJS.ErrnoException).code === 'ELOOP' ? 'symlink-refused' : 'journal-unreadable',
        );
      return undefined;
    }
    if (!helloMatches(base, hello)) {
      storage.count('journal-hello-damaged');
      try {
        writeHello(base, hello);
      } catch (e) {
        storage.failed('journal-stopped', `the journal of ${hello.host}`, e);
      }
    }
    let offset = 0;
    let end = 0;
    let damaged = 0;
    let sliceFrom = 0;
    try {
      const fileSize = fstatSync(fd).size;
      while (offset < fileSize) {
        let f = frameAt(fd, offset, fileSize);
        if (f === undefined) {
          const next = nextFrame(fd, offset + 1, fileSize);
          if (next === undefined) {
            // Damage, or a frame cut short by a crash (never acknowledged: the agent has it): gone.
            if (offset + PRE + SUM <= fileSize && !frameCutShort(fd, offset, fileSize)) damaged++;
            break;
          }
          damaged++;
          f = next.frame;
        }
        frame(f.seq, f.lines, damaged > 0);
        offset = end = f.end;
        // Up to 2 GiB to analyze again: the sockets get their turn between slices.
        if (offset - sliceFrom >= RESTORE_SLICE_BYTES) {
          sliceFrom = offset;
          await new Promise<void>((r) => setImmediate(r));
        }
      }
    } catch {
      storage.count('journal-unreadable');
    }
    for (let i = 0; i < damaged; i++) storage.count('journal-damaged');
    const journal = new Journal(base, fd, end, storage);
    try {
      ftruncateSync(fd, end); // appends go after the last whole frame
    } catch (e) {
      journal.fail(e);
    }
    return { journal, damaged };
  }

  /** Deletes the journal folder of a host this server no longer follows. */
  static drop(dir: string, host: string, storage: StorageState): void {
    if (nameProblem('host', host) !== undefined) return; // never a path then: there is nothing of it on disk
    try {
      rmSync(pathIn(dir, 'host', host), { recursive: true, force: true }); // a link is removed, never followed
      storage.count('journal-dropped');
    } catch {
      storage.count('journal-unreadable');
    }
  }

  /** Keeps the journals of the `keep` hosts heard from most recently; deletes the rest (and anything else in `dir`). */
  static sweep(dir: string, keep: number, storage: StorageState): void {
    let entries: { name: string; mtime: number }[];
    try {
      entries = readdirSync(dir).map((name) => {
        const st = lstatSync(join(dir, name));
        return { name, mtime: st.isDirectory() && !st.isSymbolicLink() ? st.mtimeMs : -1 };
      });
    } catch {
      return; // no journal folder yet
    }
    entries.sort((a, b) => b.mtime - a.mtime);
    for (const [i, e] of entries.entries()) {
      if (i < keep && e.mtime >= 0) continue;
      try {
        rmSync(join(dir, e.name), { recursive: true, force: true });
        storage.count('journal-dropped');
      } catch {
        storage.count('journal-unreadable');
      }
    }
  }

  /** Appends a frame (see MAGIC), before the batch is acknowledged. */
  append(head: Uint8Array, lines: Uint8Array): void {
    if (this.fd === undefined) return;
    if (this.offset + PRE + lines.byteLength + SUM > JOURNAL_MAX_BYTES) {
      this.remove(); // given up for its size
      this.error = `journal given up past ${JOURNAL_MAX_BYTES} bytes: a restart resumes this stream with a recorded loss`;
      this.storage.count('journal-given-up');
      return;
    }
    const size = Buffer.alloc(4);
    size.writeUInt32LE(lines.byteLength, 0);
    const start = this.offset;
    try {
      for (const part of [MAGIC, head, size, lines, checksum(head, size, lines)]) {
        for (let done = 0; done < part.byteLength; ) done += writeSync(this.fd, part, done, part.byteLength - done, this.offset + done);
        this.offset += part.byteLength;
      }
    } catch (e) {
      this.offset = start;
      try {
        ftruncateSync(this.fd, start); // no partial frame (and the room it took is given back)
      } catch {
        // the reader skips a partial frame anyway
      }
      this.fail(e);
    }
  }

  get stopped(): boolean {
    return this.error !== null;
  }

  view(): JournalView {
    return { bytes: this.offset, error: this.error };
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  /** The stream is over (ended, replaced by a new run, or forgotten): the journal is not needed any more. */
  remove(): void {
    this.close();
    if (this.base === undefined) return;
    try {
      rmSync(`${this.base}.frames`, { force: true });
      rmSync(`${this.base}.hello.json`, { force: true });
      rmdirSync(dirname(this.base)); // the host's folder, once empty
    } catch {
      // another run's journal is there, or it is gone already; a journal never stops the server
    }
  }

  /** A write failed: journaling this stream stops; the server and the live view go on. */
  private fail(e: unknown): void {
    this.close();
    this.error = this.storage.failed(e instanceof JournalLinkError ? 'symlink-refused' : 'journal-stopped', 'journaling', e);
  }
}

/** Whether the frame at `at` is whole but for its end, the file having stopped inside it (a crash while appending). */
function frameCutShort(fd: number, at: number, fileSize: number): boolean {
  const pre = Buffer.alloc(PRE);
  if (!readFully(fd, pre, at) || !pre.subarray(0, MAGIC.length).equals(MAGIC)) return false;
  const size = pre.readUInt32LE(MAGIC.length + BATCH_HEAD);
  return size <= JOURNAL_MAX_FRAME && at + PRE + size + SUM > fileSize && typeof decodeBatchHead(pre.subarray(MAGIC.length)) !== 'string';
}

function writeHello(base: string, hello: AgentHello): void {
  const fd = openSync(`${base}.hello.json`, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | NOFOLLOW, 0o600);
  try {
    writeSync(fd, JSON.stringify(hello));
  } finally {
    closeSync(fd);
  }
}

/** Whether the run's hello file is there, whole, and names this host and run. */
function helloMatches(base: string, hello: AgentHello): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(`${base}.hello.json`, constants.O_RDONLY | NOFOLLOW);
    const size = fstatSync(fd).size;
    if (size > JOURNAL_MAX_FRAME) return false;
    const buf = Buffer.alloc(size);
    if (!readFully(fd, buf, 0)) return false;
    const v = JSON.parse(buf.toString('utf8')) as unknown;
    return typeof v === 'object' && v !== null && (v as AgentHello).host === hello.host && (v as AgentHello).run === hello.run;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
