/**
 * One time budget for all the hosts a worker analyzes. A backlog sits whole in the client's
 * buffers, so each host's loop would run from message to message on microtasks alone; yielding per
 * host is not enough (sixteen hosts yielding after 20 ms each hold the loop for 320 ms, and a
 * heartbeat's few round trips then take seconds, past its lease). Here the hosts share the budget:
 * once the event loop has been held for YIELD_MS, every host waits for the same timer, and the
 * timers (leases, ticks) and the sockets run.
 */
const YIELD_MS = 20;

export class Pacer {
  private since = performance.now();
  private waiting: Promise<void> | undefined;

  /** Resolves at once while the budget lasts, else after the event loop has had its turn. */
  turn(): Promise<void> | undefined {
    if (performance.now() - this.since < YIELD_MS) return undefined;
    this.waiting ??= new Promise((resolve) =>
      setTimeout(() => {
        this.since = performance.now();
        this.waiting = undefined;
        resolve();
      }, 0),
    );
    return this.waiting;
  }
}
