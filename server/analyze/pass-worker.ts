/** The worker of digestOffThread (pass.ts): workerData {path}; one message back, the digest or the error (a DigestMessage). */
import { parentPort, workerData } from 'node:worker_threads';
import { err, ok } from '../support/result.js';
import { digestCapture, type DigestMessage } from './pass.js';

const { path } = workerData as { path: string };
let message: DigestMessage;
try {
  message = ok(await digestCapture(path));
} catch (e) {
  message = err({ message: (e as Error).message, code: (e as NodeJS.ErrnoException).code });
}
parentPort!.postMessage(message);
