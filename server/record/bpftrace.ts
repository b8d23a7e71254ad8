/**
 * Runs a resolved probe program under bpftrace and hands back its output lines as they come. The
 * program goes to a file and bpftrace gets an argument array (no shell). Buffers are sized for
 * bursts: the per-CPU output ring (BPFTRACE_PERF_RB_PAGES: 1 MB a CPU; bpftrace 0.17 was seen to
 * stall for good on a 6.12 guest with 4 MB rings after some 30k events) and the map sizes.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';

export interface BpftraceRun {
  /** Resolves once every probe is attached (the BEGIN probe's `ready` record); rejects if bpftrace failed before. */
  attached: Promise<number>;
  /** Ends bpftrace (SIGINT: it prints its maps and exits) and waits for it. */
  stop(): Promise<void>;
  /** Resolves when bpftrace exits, with what it printed on stderr that matters. */
  done: Promise<{ exitCode: number | undefined; errors: string[] }>;
}

export interface BpftraceOptions {
  onLine(line: string): void;
  perfPages?: number;
  mapKeys?: number;
}

const READY = '{"type": "printf", "data": "ready\\t';

/** stderr noise bpftrace 0.17 prints on every start. */
const NOISE = /RLIMIT_MEMLOCK|is not traceable|attaching to it will likely fail|^\s*$|^~+$|^\s*(kprobe|kretprobe|tracepoint):/;

export async function startBpftrace(program: string, opts: BpftraceOptions): Promise<BpftraceRun> {
  const dir = await mkdtemp(join(tmpdir(), 'lifetrace-bt-'));
  const file = join(dir, 'lifetrace.bt');
  await writeFile(file, program);
  const child: ResultPromise = execa('bpftrace', ['-f', 'json', file], {
    reject: false,
    stdin: 'ignore',
    buffer: false,
    env: {
      BPFTRACE_PERF_RB_PAGES: String(opts.perfPages ?? Number(process.env.LIFETRACE_PERF_PAGES ?? 256)),
      BPFTRACE_MAP_KEYS_MAX: String(opts.mapKeys ?? 65536),
      BPFTRACE_STRLEN: '64',
    },
  });
  const errors: string[] = [];
  let attachedResolve!: (n: number) => void;
  let attachedReject!: (e: Error) => void;
  const attached = new Promise<number>((res, rej) => {
    attachedResolve = res;
    attachedReject = rej;
  });
  attached.catch(() => {});

  let carry = '';
  let probes = 0;
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    const text = carry + chunk;
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      const line = text.slice(start, nl);
      start = nl + 1;
      if (line.startsWith('{"type": "attached_probes"')) probes = Number(/"probes": (\d+)/.exec(line)?.[1] ?? 0);
      else if (line.startsWith(READY)) attachedResolve(probes);
      opts.onLine(line);
    }
    carry = text.slice(start);
  });
  let errCarry = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    const lines = (errCarry + chunk).split('\n');
    errCarry = lines.pop()!;
    for (const l of lines) if (!NOISE.test(l)) errors.push(l);
  });

  const done = child.then((r) => {
    if (carry.length > 0) opts.onLine(carry);
    attachedReject(new Error(`bpftrace exited before attaching: ${errors.join(' | ') || `exit ${String(r.exitCode)}`}`));
    return { exitCode: r.exitCode, errors };
  });

  return {
    attached,
    done,
    async stop() {
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await done;
      clearTimeout(timer);
    },
  };
}
