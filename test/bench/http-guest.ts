/**
 * The guest side of the http overhead in `npm run bench:truth` (inside the QEMU guest, as root):
 * Debian's nginx under wrk, a fresh connection per request (every request opens, polls and closes
 * sockets: the paths lifetrace's probes sit on), first with no probes, then while lifetrace
 * records. Writes one JSON object to argv[2].
 */
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { recordCapture } from '../../server/recorder/record-capture.js';
import { ensureTracingMounts } from '../../server/probes/host.js';

const [, , out] = process.argv;
const seconds = Number(process.env.LIFETRACE_BENCH_SECONDS ?? '8');
const PORT = 8090;

/** wrk's "Requests/sec:" for one run of `seconds`. */
async function load(): Promise<number> {
  const r = await execa('wrk', ['-t', '2', '-c', '8', '-d', `${seconds}s`, '-H', 'Connection: close', `http://127.0.0.1:${PORT}/`], {
    reject: false,
  });
  const m = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  if (!m) throw new Error(`wrk printed no rate (exit ${String(r.exitCode)}): ${r.stdout} ${r.stderr}`);
  return Number(m[1]);
}

await ensureTracingMounts();
const server = execa('python3', ['test/kernel/programs.py', 'serve-nginx', String(PORT)], { reject: false, stdio: 'inherit' });
try {
  for (let i = 0; ; i++) {
    const up = await execa('wrk', ['-t', '1', '-c', '1', '-d', '1s', `http://127.0.0.1:${PORT}/`], { reject: false });
    if (/Requests\/sec/.test(up.stdout) && !/Socket errors: connect/.test(up.stdout)) break;
    if (i === 30) throw new Error('nginx did not come up');
  }
  const none = await load();
  // The capture runs until aborted; the load starts once every probe is attached.
  const abort = new AbortController();
  let attached!: () => void;
  const ready = new Promise<void>((r) => {
    attached = r;
  });
  const capture = recordCapture({
    out: join(tmpdir(), 'http.ljsonl'),
    signal: abort.signal,
    onProgress: (p) => {
      if (p.seconds > 0) attached();
    },
  });
  await Promise.race([ready, capture]);
  const traced = await load();
  abort.abort();
  const recorded = await capture;
  if (!recorded.ok) throw new Error(recorded.error);
  const lt = recorded.value;
  await writeFile(out!, JSON.stringify({ seconds, rps_none: none, rps: traced, events: lt.events, lost: lt.lost, kernel: lt.kernel }));
} finally {
  server.kill('SIGTERM');
  await server;
}
