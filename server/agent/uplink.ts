/**
 * What the agent needs of its way out: the WebSocket to a lifetrace server (link.ts) or a NATS
 * JetStream stream (nats-link.ts). Either one sends the outbox's batches in order, acknowledges
 * them (the outbox then lets them go), and resends what was not acknowledged after a reconnect.
 */
export interface Uplink {
  /** Rejects (with a LinkRefused) when the other side refuses the agent for good. */
  readonly fatal: Promise<never>;
  /** The newest batch the other side has acknowledged: it and every one before it are safe. */
  readonly ackedSeq: number;
  /** Connections made so far. */
  readonly connects: number;
  start(): void;
  /** New batches are in the outbox. */
  notify(): void;
  /** Resolves once batch `seq` is acknowledged. */
  acknowledged(seq: number): Promise<void>;
  /** Says the stream is over (after every batch is acknowledged). */
  end(lastSeq: number, reason: string): Promise<void>;
  close(): Promise<void>;
}

/** The other side refused the agent: wrong credentials, protocol, permissions. Not retried. */
export class LinkRefused extends Error {}
