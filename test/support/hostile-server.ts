/**
 * The hostile test's side of the wire: a real `lifetrace serve` as a child process, and raw clients
 * (HTTP bytes on a TCP socket, WebSockets with any header) that send it whatever a generator made.
 * After every step `check()` asks the three things the server owes anyone: it is alive, it answers
 * `/api/server`, and its resident memory stays under a ceiling.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import WebSocket from 'ws';
import { BIN } from './live.js';

/** How long the server may take to answer `/api/server` before it counts as not answering (a blocked event loop). */
export const ANSWER_MS = Number(process.env.HOSTILE_ANSWER_MS ?? 20_000);
/** Resident memory a server under attack may reach; a generous ceiling (a busy real host is ~130 MB). */
export const RSS_CEILING_MB = Number(process.env.HOSTILE_RSS_MB ?? 1024);

export interface ServeSetup {
  /** The agent token (`--token`); without it the server keeps one in DATA/token. */
  token?: string | undefined;
  data: string;
  extra?: string[];
  env?: Record<string, string>;
  /** A command line the server runs under (e.g. unshare and a small tmpfs); the server's argv follows it. */
  wrap?: string[];
}

export class ServerDied extends Error {}

/** Every server started, killed when the test process exits (a test that timed out may leave one behind). */
const started = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of started) p.kill('SIGKILL');
});

/** A running `lifetrace serve`; `output()` has what it printed (for the failure report). */
export class HostileServer {
  port = 0;
  token = '';
  private out = '';

  private constructor(
    readonly proc: ChildProcess,
    readonly setup: ServeSetup,
  ) {}

  static async start(setup: ServeSetup): Promise<HostileServer> {
    const token = setup.token !== undefined ? ['--token', setup.token] : [];
    const argv = [BIN, 'serve', '--port', '0', '--data', setup.data, ...token, ...(setup.extra ?? [])];
    const [cmd, ...args] = setup.wrap !== undefined ? [...setup.wrap, process.execPath, ...argv] : [process.execPath, ...argv];
    const proc = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...setup.env } });
    const s = new HostileServer(proc, setup);
    started.add(proc);
    proc.once('exit', () => started.delete(proc));
    proc.stdout!.on('data', (d: Buffer) => {
      s.out += d.toString();
    });
    proc.stderr!.on('data', (d: Buffer) => {
      s.out += d.toString();
    });
    await new Promise<void>((resolve, reject) => {
      const look = (): void => {
        const m = /dashboard at http:\/\/(?:\[[^\]]+\]|[^:/]+):(\d+)\//.exec(s.out);
        if (m) {
          s.port = Number(m[1]);
          resolve();
        }
      };
      proc.stdout!.on('data', look);
      proc.once('exit', (code, signal) => reject(new ServerDied(`lifetrace serve exited (${code ?? signal}) before listening:\n${s.out}`)));
    });
    s.token = setup.token ?? setup.env?.LIFETRACE_TOKEN ?? readFileSync(`${setup.data}/token`, 'utf8').trim();
    return s;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  output(): string {
    return this.out;
  }

  /** Why the server is gone, or undefined while it runs. */
  exited(): string | undefined {
    const { exitCode, signalCode } = this.proc;
    if (exitCode === null && signalCode === null) return undefined;
    return `the server exited (${exitCode !== null ? `status ${exitCode}` : signalCode})`;
  }

  private exitWithin(ms: number): Promise<void> {
    if (this.exited() !== undefined) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.proc.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  rssMb(): number {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.proc.pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  }

  /** Alive, answering, memory under `ceilingMb`; throws saying which does not hold. */
  async check(ceilingMb = RSS_CEILING_MB): Promise<{ rejected: Record<string, number> }> {
    const gone = this.exited();
    if (gone !== undefined) throw new ServerDied(gone);
    const r = await rawHttp(
      this.port,
      `GET /api/server HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer ${this.token}\r\n\r\n`,
      ANSWER_MS,
    );
    // A refused or reset connection is most often a process on its way out: give its exit a moment to show.
    if (r.status === undefined) await this.exitWithin(2000);
    const after = this.exited();
    if (after !== undefined) throw new ServerDied(after);
    if (r.status === undefined) {
      throw new ServerDied(`the server did not answer /api/server within ${ANSWER_MS} ms (${r.error ?? 'no status line'})`);
    }
    if (r.status !== 200) throw new ServerDied(`/api/server answered ${r.status}: ${r.body.slice(0, 200)}`);
    const rss = this.rssMb();
    if (rss > ceilingMb) throw new ServerDied(`the server's RSS is ${rss.toFixed(0)} MB, over the ${ceilingMb} MB ceiling`);
    return JSON.parse(r.body) as { rejected: Record<string, number> };
  }

  /** A JSON API answer (status and parsed body), through a plain loopback request. */
  async api<T = unknown>(method: string, path: string, body?: unknown, ms = ANSWER_MS): Promise<ApiAnswer<T>> {
    const payload = body === undefined ? '' : JSON.stringify(body);
    // The checks' own requests bring the token: off loopback every request needs it (on loopback it is ignored).
    const head =
      `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\nConnection: close\r\nAuthorization: Bearer ${this.token}\r\n` +
      (body === undefined ? '' : `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n`) +
      '\r\n';
    const r = await rawHttp(this.port, head + payload, ms);
    let json: T | undefined;
    try {
      json = JSON.parse(r.body) as T;
    } catch {
      json = undefined;
    }
    return { status: r.status, json, text: r.body };
  }

  async stop(): Promise<void> {
    if (this.exited() !== undefined) return;
    const done = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGKILL');
    await done;
  }
}

export interface ApiAnswer<T> {
  status: number | undefined;
  json: T | undefined;
  text: string;
}

export interface RawAnswer {
  status: number | undefined;
  body: string;
  error?: string;
}

/**
 * Sends raw bytes as a request and reads the answer until the server closes, the body is complete
 * or `ms` passes. No client-side validation: any method, path, header or framing goes out as given.
 */
/** A chunked body (latin1 text) as the bytes it carries; a cut one up to where it is cut. */
function dechunk(raw: string): string {
  let out = '';
  for (let at = 0; at < raw.length; ) {
    const eol = raw.indexOf('\r\n', at);
    const size = eol < 0 ? NaN : parseInt(raw.slice(at, eol), 16);
    if (!(size > 0)) break;
    out += raw.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
  return out;
}

export function rawHttp(port: number, request: string | Buffer | (string | Buffer)[], ms = ANSWER_MS): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (error?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      const split = text.indexOf('\r\n\r\n');
      const raw = split < 0 ? '' : text.slice(split + 4);
      const chunked = split >= 0 && /\r\ntransfer-encoding: *chunked/i.test(text.slice(0, split));
      const body = Buffer.from(chunked ? dechunk(raw) : raw, 'latin1').toString('utf8');
      resolve({ status: m ? Number(m[1]) : undefined, body, ...(error ? { error } : {}) });
    };
    const timer = setTimeout(() => finish(`no complete answer in ${ms} ms`), ms);
    sock.on('connect', () => {
      for (const part of Array.isArray(request) ? request : [request]) sock.write(part);
    });
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      if (split < 0) return;
      if (/^HTTP\/1\.1 101/.test(text)) return finish(); // an upgrade was accepted: that is the answer
      const len = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, split));
      if (len && Buffer.byteLength(text, 'latin1') - split - 4 >= Number(len[1])) finish();
    });
    sock.on('end', () => finish());
    sock.on('error', (e) => finish(e.message));
    sock.on('close', () => finish());
  });
}

export interface Opened {
  ws: WebSocket | undefined;
  status: number | 'open' | 'error';
}

/** A WebSocket opened with any headers: it resolves open, or the HTTP status that refused it. */
export function openSocket(port: number, path: string, headers: Record<string, string>, ms = ANSWER_MS): Promise<Opened> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers, perMessageDeflate: false, handshakeTimeout: ms });
    ws.on('open', () => resolve({ ws, status: 'open' }));
    ws.on('unexpected-response', (_req, res) => {
      resolve({ ws: undefined, status: res.statusCode ?? 'error' });
      res.resume();
      ws.terminate();
    });
    ws.on('error', () => resolve({ ws: undefined, status: 'error' }));
  });
}

/** What an agent socket said back until it closed (or `ms` of quiet passed). */
export interface AgentExchange {
  status: number | 'open' | 'error';
  messages: { type: string; [k: string]: unknown }[];
  closeCode: number | undefined;
}

/**
 * Opens /ws/agent with `headers`, sends `frames` in order (strings as text, buffers as binary), and
 * collects the server's answers until the socket closes or nothing comes for `quietMs`.
 */
export async function agentExchange(
  port: number,
  headers: Record<string, string>,
  frames: (string | Buffer)[],
  quietMs = 400,
  query = '',
): Promise<AgentExchange> {
  const { ws, status } = await openSocket(port, `/ws/agent${query}`, headers);
  const out: AgentExchange = { status, messages: [], closeCode: undefined };
  if (ws === undefined) return out;
  await new Promise<void>((resolve) => {
    let quiet: NodeJS.Timeout | undefined;
    const settle = (): void => {
      clearTimeout(quiet);
      quiet = setTimeout(() => {
        ws.terminate();
        resolve();
      }, quietMs);
    };
    ws.on('message', (d) => {
      try {
        out.messages.push(JSON.parse(String(d)) as AgentExchange['messages'][number]);
      } catch {
        out.messages.push({ type: 'unparsable', text: String(d).slice(0, 200) });
      }
      settle();
    });
    ws.on('close', (code) => {
      out.closeCode = code;
      clearTimeout(quiet);
      resolve();
    });
    ws.on('error', () => {
      clearTimeout(quiet);
      resolve();
    });
    for (const f of frames) ws.send(f, { binary: typeof f !== 'string' });
    settle();
  });
  return out;
}
