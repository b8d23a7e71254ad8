/**
 * The decode worker: reads a capture file (gunzipping it), splits, parses and orders its records
 * (ordered.ts) into packed batches for the analyzing thread. At most MAX_IN_FLIGHT batches wait over
 * there, so memory stays bounded when analysis is the slower side.
 *
 * workerData: {path, reorder: ReorderOptions}. Messages out: {type:'open-error', message, code},
 * {type:'header', header} (before any batch), {type:'batch', batch}, {type:'end', stream, error, errorLine}. In: each batch's numbers once
 * consumed (a credit, and the buffer for reuse).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openCapture } from '../../capture/open.js';
import { PackingDecoder } from './packing.js';
import type { ReorderOptions } from '../reorder.js';

// Both sides do about the same work per record: a few batches of slack absorb either one's pauses
// (a collection, a slow read) without making the other wait.
export const MAX_IN_FLIGHT = 8;

const port = parentPort!;
const { path, reorder } = workerData as { path: string; reorder: ReorderOptions };
let credits = MAX_IN_FLIGHT;
let wake: (() => void) | undefined;
port.on('message', (nums: Float64Array) => {
  packer.recycle(nums);
  credits++;
  wake?.();
});

const packer = new PackingDecoder(
  (batch) => {
    credits--;
    port.postMessage({ type: 'batch', batch }, [batch.nums.buffer as ArrayBuffer]);
  },
  reorder,
  (header) => port.postMessage({ type: 'header', header }),
);

let stream: Awaited<ReturnType<typeof openCapture>>;
try {
  stream = await openCapture(path);
} catch (e) {
  port.postMessage({ type: 'open-error', message: (e as Error).message, code: (e as NodeJS.ErrnoException).code });
  process.exit(0);
}
let error: string | null = null;
let errorLine = 0;
try {
  for await (const chunk of stream) {
    packer.push(chunk as Buffer);
    while (credits <= 0) await new Promise<void>((resolve) => (wake = resolve));
  }
} catch (e) {
  error = (e as Error).message;
  errorLine = packer.lastLine;
}
const summary = packer.end();
port.postMessage({ type: 'end', stream: summary, error, errorLine });
port.close();
