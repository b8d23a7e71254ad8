/**
 * The front of an analysis in one piece: capture lines -> decoder -> reorderer, and out in
 * kernel-time order, with what the reorder state decides on the way (the window in which reported
 * losses may lie, which records came too late). The in-thread Analysis runs OrderedDecoder and gets
 * events; the decode worker runs PackingDecoder, which holds records as values while they wait and
 * writes what comes out into batches (packed.ts), so that the analyzing thread only analyzes.
 */
import type { RecordEvent } from '../model/events.js';
import { LineSplitter } from '../capture/lines.js';
import type { CaptureHeader } from '../capture/header.js';
import { CaptureDecoder, type StreamSummary } from './decoder.js';
import type { LossWindow } from './losses.js';
import { BatchWriter, HeldStore, HoldingFields, PACKED_STACK, type PackedBatch } from './packed.js';
import { readPlainHead, scanPlainRecord } from './plain.js';
import { MAX_CPUS, Reorderer, type ReorderOptions } from './reorder.js';
import type { Route } from './routes.js';

export interface OrderedSink {
  /** An event, in its turn; `t` is ev.t. */
  event(ev: RecordEvent, t: number): void;
  /** A record held as values (Reorderer.pushHeld), in its turn (needed only by a front that holds records). */
  held?(h: number, t: number): void;
  /** Events were lost, or the probes were not running, within this window (as reported, in line order). */
  loss(w: LossWindow): void;
  /** The capture header, before any record (the kernel-level guards are in it). */
  header?(h: CaptureHeader): void;
}

export class OrderedDecoder {
  readonly decoder: CaptureDecoder;
  readonly reorder: Reorderer;

  /** `heldKind` tells the event kind of a held record (for one that comes too late to wait). */
  constructor(out: OrderedSink, options: ReorderOptions, heldKind?: (h: number) => RecordEvent['kind']) {
    this.reorder = new Reorderer(
      (ev, t) => out.event(ev, t),
      (kind, line) =>
        this.decoder.anomalies.add(
          'late-event',
          line,
          `${kind} arrived after later records of every CPU had been analyzed (reorder window ${options.windowNs / 1e6} ms)`,
        ),
      options,
      out.held === undefined ? undefined : (h, t) => out.held!(h, t),
      heldKind,
      (kind, line, cpu) =>
        this.decoder.anomalies.add(
          'bad-cpu',
          line,
          `${kind} on CPU ${cpu}, past the ${MAX_CPUS} CPU numbers merged by time: analyzed in arrival order`,
        ),
    );
    this.decoder = new CaptureDecoder({
      event: (ev) => this.reorder.push(ev),
      header: (h) => {
        if (typeof h.cpus === 'number' && h.cpus > 0) this.reorder.expectCpus(h.cpus);
        if (typeof h.deferred_ms === 'number' && h.deferred_ms > 0) this.reorder.expectDeferral(h.deferred_ms * 1e6);
        out.header?.(h);
      },
      lost: (count, line) => out.loss({ ...this.reorder.lossWindow(), count, line }),
      gap: (start, end, reason, line) => out.loss({ start, end, count: 0, line, reason }),
    });
  }

  /** End of input; `truncated` is the last line if it had no newline. Releases everything held. */
  end(truncated: { line: string; lineNo: number } | undefined): void {
    this.decoder.end(truncated);
    this.reorder.flush();
  }
}

/** The decode worker's work: capture bytes in, batches of records in kernel-time order out. */
export class PackingDecoder {
  private readonly store = new HeldStore();
  private readonly fields: HoldingFields;
  private readonly writer: BatchWriter;
  private readonly front: OrderedDecoder;
  private started = false;
  /** Number of the last line seen. */
  lastLine = 0;

  /** `header`: the capture header, before the first batch (the analyzing side needs its guards). */
  constructor(out: (b: PackedBatch) => void, options: ReorderOptions, header?: (h: CaptureHeader) => void) {
    const writer = new BatchWriter(out);
    const store = this.store;
    this.writer = writer;
    this.front = new OrderedDecoder(
      {
        event: (ev) => writer.event(ev),
        held: (h) => store.write(h, writer),
        loss: (w) => writer.loss(w),
        ...(header ? { header } : {}),
      },
      options,
      (h) => store.kind(h),
    );
    this.fields = new HoldingFields(store, this.front.decoder.stacks);
  }

  private readonly lines = new LineSplitter(
    (buf, start, end, lineNo) => this.line(buf, start, end, lineNo),
    (buf, start, limit, lineNo) => this.scan(buf, start, limit, lineNo),
    (lineNo, bytes) => {
      this.lastLine = lineNo;
      this.front.decoder.longLine(lineNo, bytes);
    },
  );

  /** The next bytes of the capture (any boundaries). */
  push(chunk: Buffer): void {
    this.lines.push(chunk);
  }

  /** End of input (see OrderedDecoder.end): the last batch goes, and what the report needs of the stream. */
  end(): StreamSummary {
    this.front.end(this.lines.end());
    this.writer.flush();
    return this.front.decoder.summary();
  }

  /** A line the scan did not take. */
  private line(buf: Buffer, start: number, end: number, lineNo: number): void {
    this.lastLine = lineNo;
    if (this.started) {
      const route = readPlainHead(this.fields, buf, start, end);
      if (route !== undefined && this.hold(route, lineNo)) return;
    }
    this.started = true;
    this.front.decoder.line(buf.toString('utf8', start, end), lineNo);
  }

  /** A plain record taken while finding its line's end (a LineScanner): its newline, or -1. */
  private scan(buf: Buffer, start: number, limit: number, lineNo: number): number {
    if (!this.started) return -1;
    const route = scanPlainRecord(this.fields, buf, start, limit);
    if (route === undefined || !this.hold(route, lineNo)) return -1;
    this.lastLine = lineNo;
    return this.fields.lineEnd;
  }

  /** A batch's numbers, back for reuse (BatchWriter.recycle). */
  recycle(nums: Float64Array): void {
    this.writer.recycle(nums);
  }

  /**
   * CaptureDecoder.lineBytes's fast path for the record just read into `fields`, holding its values
   * instead of building its event; false (and no effect but on the TimeBase and the string caches)
   * to leave the line to the text path.
   */
  private hold(route: Route, lineNo: number): boolean {
    const r = this.fields;
    const d = this.front.decoder;
    d.info.lines = lineNo;
    const t = d.time.fromParts(r.sec, r.ns);
    const n = r.stackFrom >= 0 ? r.n + PACKED_STACK : r.n;
    const h = this.store.open(route.index, t, r.cpu, r.pid, r.tid, n, lineNo);
    if (!r.hold(h, route.index)) {
      this.store.drop(h);
      return false;
    }
    this.store.close(h, r.vals, r.mask);
    d.info.records[route.family]++;
    this.front.reorder.pushHeld(h, t, r.cpu, lineNo);
    return true;
  }
}
