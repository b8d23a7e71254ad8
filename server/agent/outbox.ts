/**
 * Batches not yet acknowledged by the server, in sequence order. They stay in memory up to a bound;
 * past it new batches go to a spill file on disk and are read back when they are (re)sent. Nothing
 * leaves the outbox before the server has acknowledged it, so a reconnect resends exactly the
 * batches after the server's last one.
 */
import { closeSync, ftruncateSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

interface Entry {
  seq: number;
  size: number;
  /** In memory, or at `offset` in the spill file. */
  frame: Buffer | undefined;
  offset: number;
}

export interface OutboxOptions {
  maxMemoryBytes: number;
  /** Most bytes spilled to disk; past it the oldest unacknowledged batches are dropped (and counted). */
  maxSpillBytes: number;
  spillDir: string;
}

export class Outbox {
  private entries: Entry[] = [];
  private head = 0;
  private memoryBytes = 0;
  private spillFd: number | undefined;
  private spillPath: string;
  private spillEnd = 0;
  private spilledLive = 0;
  private acked = 0;

  constructor(
    private readonly o: OutboxOptions,
    name: string,
  ) {
    this.spillPath = join(o.spillDir, `lifetrace-outbox-${name}.spill`);
  }

  get pending(): number {
    return this.entries.length - this.head;
  }

  /** Bytes not yet acknowledged, in memory and on disk. */
  get unackedBytes(): number {
    return this.memoryBytes + this.spilledLive;
  }

  /** The newest batch's sequence number (0 when there was none). */
  get lastSeq(): number {
    return this.entries.length === 0 ? this.acked : this.entries[this.entries.length - 1]!.seq;
  }

  get spilledBytes(): number {
    return this.spilledLive;
  }

  /** False when even the spill file is full: the caller must account for the batch as lost. */
  push(seq: number, frame: Buffer): boolean {
    const e: Entry = { seq, size: frame.length, frame, offset: -1 };
    if (this.memoryBytes + frame.length > this.o.maxMemoryBytes) {
      if (this.spilledLive + frame.length > this.o.maxSpillBytes) return false;
      this.spillFd ??= openSync(this.spillPath, 'w+', 0o600);
      writeSync(this.spillFd, frame, 0, frame.length, this.spillEnd);
      e.offset = this.spillEnd;
      e.frame = undefined;
      this.spillEnd += frame.length;
      this.spilledLive += frame.length;
    } else {
      this.memoryBytes += frame.length;
    }
    this.entries.push(e);
    return true;
  }

  /** The server has everything up to `seq`. */
  ack(seq: number): void {
    if (seq > this.acked) this.acked = seq;
    while (this.head < this.entries.length && this.entries[this.head]!.seq <= seq) {
      const e = this.entries[this.head++]!;
      if (e.frame !== undefined) this.memoryBytes -= e.size;
      else this.spilledLive -= e.size;
    }
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    if (this.spillFd !== undefined && this.spilledLive === 0) {
      // Every spilled batch is acknowledged: start the file over.
      ftruncateSync(this.spillFd, 0);
      this.spillEnd = 0;
    }
  }

  /** Batches after `seq`, in order, read back from disk where they were spilled. */
  *after(seq: number): Generator<{ seq: number; frame: Buffer }> {
    // Sequence numbers are consecutive: the first one wanted is found by arithmetic, not a scan.
    const first = this.entries[this.head];
    const start = first === undefined ? this.entries.length : this.head + Math.max(0, seq + 1 - first.seq);
    for (let i = start; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (e.frame !== undefined) {
        yield { seq: e.seq, frame: e.frame };
      } else {
        const frame = Buffer.allocUnsafe(e.size);
        readSync(this.spillFd!, frame, 0, e.size, e.offset);
        yield { seq: e.seq, frame };
      }
    }
  }

  close(): void {
    if (this.spillFd !== undefined) closeSync(this.spillFd);
    this.spillFd = undefined;
    rmSync(this.spillPath, { force: true });
  }
}
