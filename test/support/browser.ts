/**
 * Browser-test support: a real `lifetrace serve` process, real `lifetrace agent --replay`
 * processes, a real `lifetrace replay` process (a server-side replay with controls), and Debian's
 * chromium driven by playwright-core (no browser download).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { traceToCapture } from './trace.js';
import { writeCapture } from './run.js';

export const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'server', 'bin', 'lifetrace.js');
export const TOKEN = 'browser-test-token-0123456789';
export const SAMPLE = join(root, 'test', 'fixtures', 'sample.ljsonl.gz');
export const SCREENSHOTS = join(root, 'test-results', 'screenshots');

/** Compiles web/ when dist/web is missing or older than a web source (npm run build does it too). */
export function buildWeb(): void {
  const src = join(root, 'web', 'src');
  const out = join(root, 'dist', 'web', 'src', 'main.js');
  const newest = Math.max(
    statSync(join(root, 'web', 'tsconfig.json')).mtimeMs,
    ...readdirSync(src).map((f) => statSync(join(src, f)).mtimeMs),
  );
  if (existsSync(out) && statSync(out).mtimeMs >= newest) return;
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'web', 'tsconfig.json')], {
    cwd: root,
    stdio: 'inherit',
  });
}

/** A capture made from a rule fixture (test/fixtures/rules/NAME), or from fixture text. */
export function fixtureCapture(name: string): string {
  return writeCapture(traceToCapture(readFileSync(join(root, 'test', 'fixtures', 'rules', name), 'utf8')));
}
export const traceCapture = (src: string): string => writeCapture(traceToCapture(src));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface Proc {
  child: ChildProcess;
  /** performance.now() just before the process was spawned. */
  spawnedAt: number;
  output(): string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

function run(args: string[]): Proc {
  let out = '';
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    spawnedAt,
    exited,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

export interface Server extends Proc {
  url: string;
  agent(capture: string, opts?: { host?: string; speed?: string; loop?: boolean }): Proc;
  api<T>(path: string): Promise<T>;
}

/** Waits for a server process to print where its dashboard is. */
async function dashboardUrl(p: Proc, what: string): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const m = /dashboard at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(p.output());
    if (m) return m[1]!;
    if (p.child.exitCode !== null || Date.now() > deadline) throw new Error(`${what} did not start:\n${p.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `port`: listen there (to restart a server where a page expects it); default a free one. */
export async function startServer(port?: number): Promise<Server> {
  port ??= await freePort();
  const data = mkdtempSync(join(tmpdir(), 'lifetrace-browser-'));
  const p = run(['serve', '--port', String(port), '--host', '127.0.0.1', '--token', TOKEN, '--data', data]);
  const base = await dashboardUrl(p, 'lifetrace serve');
  const agents: Proc[] = [];
  return {
    ...p,
    url: base,
    agent(capture, o = {}) {
      const a = run([
        'agent',
        '--server',
        base,
        '--token',
        TOKEN,
        '--replay',
        capture,
        ...(o.host ? ['--host', o.host] : []),
        ...(o.speed ? ['--speed', o.speed] : []),
        ...(o.loop ? ['--loop'] : []),
      ]);
      agents.push(a);
      return a;
    },
    async api<T>(path: string): Promise<T> {
      const res = await fetch(new URL(path, base));
      if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    },
    async stop() {
      await Promise.all(agents.map((a) => a.stop()));
      await p.stop();
    },
  };
}

export interface ReplayServer extends Proc {
  url: string;
  /** The capture library of the server (DATA/captures). */
  data: string;
  api<T>(path: string): Promise<T>;
}

/**
 * `lifetrace replay CAPTURE --speed S`: a server that replays CAPTURE itself, as a host named after
 * the file (sample.ljsonl.gz: `sample`), with the page's replay controls.
 */
export async function startReplay(capture: string, o: { speed?: string; loop?: boolean } = {}): Promise<ReplayServer> {
  const port = await freePort();
  const data = mkdtempSync(join(tmpdir(), 'lifetrace-replay-'));
  const p = run([
    'replay',
    capture,
    '--port',
    String(port),
    '--host',
    '127.0.0.1',
    '--data',
    data,
    ...(o.speed ? ['--speed', o.speed] : []),
    ...(o.loop ? ['--loop'] : []),
  ]);
  const url = await dashboardUrl(p, 'lifetrace replay');
  return {
    ...p,
    url,
    data,
    async api<T>(path: string): Promise<T> {
      const res = await fetch(new URL(path, url));
      if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    },
  };
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
}

export interface OpenPage {
  page: Page;
  /** Console errors and uncaught exceptions seen on the page. */
  errors: string[];
  close(): Promise<void>;
}

export async function openDashboard(browser: Browser, url: string): Promise<OpenPage> {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  return { page, errors, close: () => context.close() };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Polls `f` until it returns a value that is not undefined/false, or fails with `what`. */
export async function until<T>(
  what: string,
  f: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
