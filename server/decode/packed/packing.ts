/** The decode worker's work (packed/worker.ts): capture bytes in, packed batches of records in kernel-time order out. */
import type { CaptureHeader } from '../../capture/header.js';
import { LineSplitter } from '../../capture/lines.js';
import type { StreamSummary } from '../decoder.js';
import { OrderedDecoder } from '../ordered.js';
import { readPlainHead, scanPlainRecord } from '../plain.js';
import type { ReorderOptions } from '../reorder.js';
import type { Route } from '../routes.js';
import { BatchWriter, PACKED_STACK, type PackedBatch } from './batch.js';
import { HeldStore, HoldingFields } from './held.js';

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
