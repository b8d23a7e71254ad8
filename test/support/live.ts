/** Real processes for the live tests: a lifetrace server, agents, and a TCP proxy that can be cut. */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { execa, type ResultPromise } from 'execa';
import { projectPath } from '../../server/support/paths.js';

export const BIN = projectPath('server', 'bin', 'lifetrace.js');
export const TOKEN = 'test-token-0123456789abcdef';

export interface ServerProcess {
  url: string;
  port: number;
  proc: ResultPromise;
  get<T>(path: string): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Runs a lifetrace command that serves (serve, start, replay) and waits until it prints where its
 * dashboard is and, if given, until its output also matches `ready`.
 */
export async function launch(args: string[], ready?: RegExp) {
  const proc = execa(process.execPath, [BIN, ...args], { reject: false, stdin: 'ignore', buffer: false });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const look = (d: Buffer): void => {
      out += d.toString();
      const m = /dashboard at (http:\/\/\S+)/.exec(out);
      if (m && (ready === undefined || ready.test(out))) resolve(m[1]!);
    };
    proc.stdout!.on('data', look);
    proc.stderr!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    void proc.then((r) => reject(new Error(`lifetrace ${args[0]} exited ${String(r.exitCode)}: ${out}`)));
  });
  return { proc, url, output: () => out };
}

/** Starts `lifetrace serve` on a free port and waits until it listens. */
export async function startServe(extra: string[] = [], dataDir?: string): Promise<ServerProcess> {
  // LIFETRACE_TEST_WORKERS runs the live tests with that many analysis threads (0: the main thread).
  const workers = process.env.LIFETRACE_TEST_WORKERS;
  const mode = workers === undefined || extra.includes('--workers') ? [] : ['--workers', workers];
  const { proc, url } = await launch([
    'serve',
    '--port',
    '0',
    '--token',
    TOKEN,
    ...(dataDir ? ['--data', dataDir] : []),
    ...mode,
    ...extra,
  ]);
  return {
    url,
    port: Number(new URL(url).port),
    proc,
    async get<T>(path: string): Promise<T> {
      const r = await fetch(new URL(path, url));
      if (!r.ok) throw new Error(`${path}: HTTP ${r.status} ${await r.text()}`);
      return (await r.json()) as T;
    },
    async stop() {
      proc.kill('SIGTERM');
      await proc;
    },
  };
}

/** `lifetrace agent` as a process. */
export function agent(server: string, args: string[], token = TOKEN) {
  return execa(process.execPath, [BIN, 'agent', '--server', server, '--token', token, ...args], {
    reject: false,
    all: true,
    stdin: 'ignore',
  });
}

/** Polls `check` until it returns a value (not undefined), or fails after `ms`. */
export async function until<T>(check: () => Promise<T | undefined> | T | undefined, ms = 20_000, what = 'condition'): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A TCP proxy to `target` whose connections can be cut, and which can stop listening for a while. */
export class CuttableProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;
  connections = 0;

  constructor(private readonly targetPort: number) {}

  async listen(port = 0): Promise<void> {
    const server = createServer((client) => {
      this.connections++;
      const upstream = connect(this.targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    this.server = server;
    this.port = (server.address() as { port: number }).port;
  }

  /** Drops every open connection (as a network failure would). */
  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server = undefined;
  }
}
