/** A real nats-server (Debian's, 2.9) with JetStream on file storage, as the fleet's tests start it. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { execa, type ResultPromise } from 'execa';
import { inboxPrefix } from '../../server/fleet/connect.js';
import { projectPath } from '../../server/support/paths.js';
import { BIN } from './live.js';
export const AGENT_PASS = 'agent-pass-0123456789';
export const WORKER_PASS = 'worker-pass-0123456789';
export const DASHBOARD_PASS = 'dashboard-pass-0123456789';

/** The users of the fleet's configuration, and their passwords here. */
export const PASSWORDS = { agent: AGENT_PASS, worker: WORKER_PASS, dashboard: DASHBOARD_PASS } as const;
export type NatsUser = keyof typeof PASSWORDS;

/** `--nats URL` and the credentials of one of the configuration's users, for a lifetrace command. */
export function natsArgs(nats: NatsServer, user: NatsUser): string[] {
  return ['--nats', nats.url, '--nats-user', user, '--nats-pass', PASSWORDS[user]];
}

/** A client connection as one of the configuration's users (what the tests read and ask with). */
export function connectAs(nats: NatsServer, user: NatsUser): Promise<NatsConnection> {
  // Replies on the user's own inbox: the configuration lets each user subscribe to that one only.
  return connect({ servers: `127.0.0.1:${nats.port}`, user, pass: PASSWORDS[user], inboxPrefix: inboxPrefix(user) });
}

/** `lifetrace agent --nats` publishing a capture as `host` (at full speed unless said), as a process. */
export function replayToNats(nats: NatsServer, capture: string, host: string, speed = 'max') {
  return execa(process.execPath, [BIN, 'agent', ...natsArgs(nats, 'agent'), '--replay', capture, '--speed', speed, '--host', host], {
    reject: false,
    all: true,
    stdin: 'ignore',
  });
}

/** The configuration docker-compose.yml runs and docs/fleet.md documents: an agent may only publish batches. */
export const CONFIG = projectPath('server', 'fleet', 'nats-server.conf');

/** A nats-server with JetStream on file storage in a directory of its own, on a free loopback port. */
export class NatsServer {
  proc: ResultPromise | undefined;
  log = '';
  readonly store = mkdtempSync(join(tmpdir(), 'lifetrace-nats-'));
  port = 0;

  /** By default the fleet's own configuration; `config` is another configuration's text. */
  constructor(private readonly config?: string) {}

  async start(): Promise<void> {
    this.port ||= await freePort();
    const file = this.config === undefined ? CONFIG : join(this.store, 'nats.conf');
    if (this.config !== undefined) writeFileSync(file, this.config);
    const proc = execa('nats-server', ['-c', file, '-js', '-sd', join(this.store, 'js'), '-a', '127.0.0.1', '-p', String(this.port)], {
      reject: false,
      stdin: 'ignore',
      all: true,
      buffer: false,
      env: {
        LIFETRACE_NATS_AGENT_PASS: AGENT_PASS,
        LIFETRACE_NATS_WORKER_PASS: WORKER_PASS,
        LIFETRACE_NATS_DASHBOARD_PASS: DASHBOARD_PASS,
      },
    });
    this.proc = proc;
    await new Promise<void>((resolve, reject) => {
      proc.all!.on('data', (d: Buffer) => {
        this.log += d.toString();
        if (this.log.includes('Server is ready')) resolve();
      });
      void proc.then((r) => reject(new Error(`nats-server exited ${String(r.exitCode)}: ${this.log}`)));
    });
  }

  async kill(): Promise<void> {
    this.proc?.kill('SIGKILL');
    await this.proc;
    this.log = '';
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
