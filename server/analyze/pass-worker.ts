/** The worker of digestOffThread (pass.ts): workerData {path}; one message back, the digest or the error. */
import { parentPort, workerData } from 'node:worker_threads';
import { digestCapture } from './pass.js';

const { path } = workerData as { path: string };
try {
  parentPort!.postMessage({ ok: true, digest: await digestCapture(path) });
} catch (e) {
  parentPort!.postMessage({ ok: false, message: (e as Error).message, code: (e as NodeJS.ErrnoException).code });
}
