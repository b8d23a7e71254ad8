/**
 * Chrome trace-event JSON, written as a stream: `{"traceEvents":[` then one event per line as it is
 * produced, then the closing members. Nothing is kept once written, so the memory of an export is
 * the analysis's own (live objects, tombstones, flags) plus one output buffer.
 *
 * Event fields follow the Trace Event Format (the "JSON Object Format"): `ts` and `dur` are in
 * microseconds; lifetrace keeps kernel nanoseconds exact by writing them with three decimals.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';

/** The phases lifetrace emits: nestable async begin/end, complete, instant, flow, metadata. */
export type TracePhase = 'b' | 'e' | 'X' | 'i' | 's' | 't' | 'f' | 'M';

export interface TraceEvent {
  ph: TracePhase;
  name: string;
  pid: number;
  tid: number;
  /** Microseconds (the format's unit). Metadata events have none. */
  ts?: number;
  cat?: string;
  dur?: number;
  /** Async slices: ids scoped to the process, so one object's address names one track. */
  id2?: { local: string };
  /** Flow events: one id per evidence chain. */
  id?: number;
  /** Instant scope: 'g' global, 'p' process, 't' thread. */
  s?: 'g' | 'p' | 't';
  /** Flow binding: 'e' binds to the slice enclosing ts (not the next one). */
  bp?: 'e';
  args?: Record<string, unknown>;
}

/** Kernel ns (relative to the capture's time base) as trace microseconds, exact to the ns. */
export const usec = (ns: number): number => Math.round(ns) / 1000;

/** Flush the text buffer to the stream once it holds this many characters. */
const FLUSH_CHARS = 1 << 16;

export class TraceEventWriter {
  private buf = '';
  private first = true;
  private closed = false;
  /** Events written so far (metadata included). */
  count = 0;
  /** The output stream's error (disk full, closed pipe); the export stops on it. */
  failed: Error | undefined;

  constructor(private readonly out: Writable) {
    this.buf = '{"traceEvents":[\n';
    out.on('error', (e) => (this.failed ??= e));
  }

  event(e: TraceEvent): void {
    if (this.closed) throw new Error('TraceEventWriter: event after close');
    this.buf += (this.first ? '' : ',\n') + JSON.stringify(e);
    this.first = false;
    this.count++;
    if (this.buf.length >= FLUSH_CHARS) this.flush();
  }

  /**
   * Waits while the stream's buffer is full. The analysis is synchronous per input chunk, so the
   * caller awaits this between chunks: what one chunk produces is the most that can pile up.
   */
  async drained(): Promise<void> {
    this.flush();
    if (this.out.writableNeedDrain) await once(this.out, 'drain');
    if (this.failed !== undefined) throw this.failed;
  }

  /** Ends the array, writes the trailing members, and waits until everything is flushed. */
  async close(trailer: Record<string, unknown>, endStream: boolean): Promise<void> {
    this.closed = true;
    let tail = '\n]';
    for (const [k, v] of Object.entries(trailer)) tail += `,\n${JSON.stringify(k)}:${JSON.stringify(v)}`;
    this.buf += `${tail}}\n`;
    this.flush();
    if (this.failed !== undefined) throw this.failed;
    if (endStream) {
      this.out.end();
      await once(this.out, 'finish');
    } else if (this.out.writableNeedDrain) {
      await once(this.out, 'drain');
    }
  }

  private flush(): void {
    if (this.buf.length === 0 || this.failed !== undefined) return;
    this.out.write(this.buf);
    this.buf = '';
  }
}
