/**
 * The front of an analysis in one piece: capture lines -> decoder -> reorderer, and out in
 * kernel-time order, with what the reorder state decides on the way (the window in which reported
 * losses may lie, which records came too late). The in-thread Analysis runs OrderedDecoder and gets
 * events; the decode worker runs PackingDecoder (packed/packing.ts), which holds records as values
 * while they wait and writes what comes out into batches, so that the analyzing thread only analyzes.
 */
import type { RecordEvent } from '../model/events.js';
import type { CaptureHeader } from '../capture/header.js';
import { CaptureDecoder } from './decoder.js';
import type { LossWindow } from './losses.js';
import { MAX_CPUS, Reorderer, type ReorderOptions } from './reorder.js';

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
