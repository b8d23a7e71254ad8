/**
 * Inputs that broke (or could break) the server, as data: the sixteen findings of issue 11 as
 * functions the explicit cases call, and the pieces the seeded generator (hostile-stream.ts) mixes.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { encodeBatchHead } from '../../server/shared/wire.js';
import { projectPath } from '../../server/support/paths.js';
import { traceToCapture } from './trace.js';

export const HEADER = {
  format: 'lifetrace-capture',
  version: 1,
  created: '2026-11-27T00:00:00.000Z',
  host: 'h',
  kernel: '6.1.0-hostile',
  families: { file: 'x', epoll: 'x' },
  lifetrace_version: '0.1.0',
};

export interface HelloParts {
  run: string;
  host: string;
  mode?: string;
  header?: unknown;
  rules?: unknown;
  label?: unknown;
  protocol?: unknown;
}

/** A hello as the agent sends it (text frame); fields can be anything. */
export function hello(p: HelloParts): string {
  return JSON.stringify({
    type: 'hello',
    protocol: p.protocol ?? 1,
    run: p.run,
    host: p.host,
    mode: p.mode ?? 'live',
    header: p.header ?? HEADER,
    rules: p.rules ?? [],
    ...(p.label !== undefined ? { label: p.label } : {}),
  });
}

/** A binary batch frame: the 16-byte head and the lines (each ending in a newline). */
export function batch(seq: number, lines: string[] | Buffer, count?: number): Buffer {
  const body = Buffer.isBuffer(lines) ? lines : Buffer.from(lines.map((l) => `${l}\n`).join(''));
  return Buffer.concat([encodeBatchHead(seq, count ?? (Buffer.isBuffer(lines) ? 1 : lines.length)), body]);
}

/** The record lines (no header) of a capture text. */
export function recordLines(capture: string): string[] {
  return capture.split('\n').filter((l) => l !== '' && !l.startsWith('{"format"'));
}

/** The lines of the real sample capture (its header first), for valid traffic to mutate. */
export const SAMPLE_LINES: readonly string[] = gunzipSync(readFileSync(projectPath('test', 'fixtures', 'sample.ljsonl.gz')))
  .toString('utf8')
  .split('\n')
  .filter((l) => l !== '');

// ---------------------------------------------------------------- the findings' inputs

/** Finding 1: a cookie whose value is not valid percent-encoding. */
export const BAD_COOKIE = 'lifetrace_token=%zz';

/** Finding 2: a capture header nesting `depth` objects (100k levels: 600 KB), as hello text. */
export function nestedHello(run: string, host: string, depth: number): string {
  const nested = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
  return (
    `{"type":"hello","protocol":1,"run":"${run}","host":"${host}","mode":"live",` +
    `"header":{"format":"lifetrace-capture","version":1,"families":{},"x":${nested}},"rules":[]}`
  );
}

/** Finding 3: a hello with `count` rule ids of `length` characters each (the count was capped, the length not). */
export function longRulesHello(run: string, host: string, count: number, length: number): string {
  const rules = Array.from({ length: count }, (_, i) => ({ id: `${i}-`.padEnd(length, 'r'), status: 'active' }));
  return hello({ run, host, rules });
}

/**
 * Finding 4: epitem 0x..epi is registered again (another fd) with its removal never seen, as a lossy
 * stream gives. epoll.stale-fd then kept the epitem under its first fd's key and read a missing entry.
 */
export const STALE_FD_REUSE_TRACE = `
1.000 0 100 app ctl 3 1 5
1.001 0 100 app ins @ep @epi @pipe 5
1.002 0 100 app ctl_r 3 1 5 0
2.000 0 100 app fdi 6 @pipe
2.100 0 100 app fdc 5
2.500 0 100 app ctl 3 1 7
2.501 0 100 app ins @ep @epi @pipe2 7
2.502 0 100 app ctl_r 3 1 7 0
2.600 0 100 app fdi 8 @pipe2
2.700 0 100 app fdc 7
2.800 0 100 app rm @ep @epi @pipe2 7
2.900 0 100 app alloc @sock
2.901 0 100 app fdi 5 @sock
`;

/** Finding 4 as a capture (header and records), and then `after` more ordinary records the analysis must still read. */
export function staleFdReuseCapture(after = 0): string {
  const more = Array.from({ length: after }, (_, i) => `${(3 + i * 0.001).toFixed(3)} 0 200 other fdi ${10 + (i % 50)} @later${i % 7}`);
  return traceToCapture(`${STALE_FD_REUSE_TRACE}\n${more.join('\n')}`);
}

/** Finding 8: `n` ordinary records spread over `cpus` CPU numbers (the reorderer's cost grew with the spread). */
export function manyCpuCapture(n: number, cpus: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    lines.push(`${(1 + i * 1e-5).toFixed(6)} ${(i * 7919) % cpus} ${100 + (i % 50)} app fdi ${3 + (i % 100)} @f${i % 1000}`);
  }
  return traceToCapture(lines.join('\n'));
}

/** Finding 8: one line of `bytes` characters, gzipped (the compressed size decided where it was analyzed). */
export function longLineGzip(bytes: number): Buffer {
  const line = [Buffer.from(`${JSON.stringify(HEADER)}\n{"type": "printf", "data": "`), Buffer.alloc(bytes, 'a'), Buffer.from('"}\n')];
  return gzipSync(Buffer.concat(line), { level: 9 });
}

/** Finding 8: a gzip bomb of `bytes` blank-ish lines (cheap to send, costly to decompress and read). */
export function gzipBomb(bytes: number): Buffer {
  return gzipSync(Buffer.concat([Buffer.from(`${JSON.stringify(HEADER)}\n`), Buffer.alloc(bytes, '\n')]), { level: 9 });
}

/** A small valid capture: the sample's header and `n` of its records from `from`. */
export function sampleCapture(from: number, n: number): string {
  return `${[SAMPLE_LINES[0], ...SAMPLE_LINES.slice(1 + from, 1 + from + n)].join('\n')}\n`;
}
