/**
 * `npm start`: the dashboard with something on it within seconds. It serves, and runs a local
 * agent when this machine can trace; when it cannot attach kprobes (or cannot trace at all), the
 * bundled sample, a real capture from Debian's 6.1 kernel under QEMU, replays in a loop beside it,
 * labelled as a replay.
 */
import { execa, type ResultPromise } from 'execa';
import { bpftraceVersion, ensureTracingMounts } from '../probes/host.js';
import { readKernelFacts } from '../probes/facts.js';
import { projectPath } from '../support/paths.js';
import { ok } from '../support/result.js';
import type { CommandResult, Print } from './args.js';
import { launch, parseServeArgs, untilSignal, SERVE_USAGE } from './serve.js';

export const SAMPLE_CAPTURE = projectPath('test', 'fixtures', 'sample.ljsonl.gz');
const BIN = projectPath('server', 'bin', 'lifetrace.js');

const START_USAGE = `usage: lifetrace start [--port 7070] [--sample | --no-sample] [serve options]

What 'npm start' runs: the server, a local agent when this machine can trace, and a replay of the
bundled sample capture when it cannot attach kprobes. --sample always adds the replay, --no-sample
never does.

${SERVE_USAGE}`;

/** Whether a local agent can run here, and whether it would see the kprobe families. */
async function tracingHere(): Promise<{ agent: boolean; kprobes: boolean; why: string }> {
  if (process.getuid?.() !== 0) return { agent: false, kprobes: false, why: 'tracing needs root' };
  if ((await bpftraceVersion()) === undefined) return { agent: false, kprobes: false, why: 'bpftrace is not installed' };
  if ((await ensureTracingMounts()).length > 0) return { agent: false, kprobes: false, why: 'tracefs cannot be mounted' };
  const facts = await readKernelFacts();
  return {
    agent: true,
    kprobes: facts.kprobes,
    why: facts.kprobes ? '' : `${facts.release} cannot attach kprobes (the live agent records the tracepoint fallback)`,
  };
}

export async function startCommand(argv: string[], print: Print): Promise<CommandResult> {
  const parsed = parseServeArgs(argv, START_USAGE, {
    sample: { type: 'boolean' },
    'no-sample': { type: 'boolean' },
  });
  if (!parsed.ok) return parsed;
  const { args, values, explicitToken } = parsed.value;
  if (values.help) {
    print(`${START_USAGE}\n`);
    return ok(0);
  }
  const launched = await launch(args, explicitToken);
  if (!launched.ok) return launched;
  const server = launched.value;
  const here = await tracingHere();
  const children: ResultPromise[] = [];
  const agent = (extra: string[], name: string): void => {
    const child = execa(process.execPath, [BIN, 'agent', '--server', server.url, ...extra], {
      env: { LIFETRACE_TOKEN: server.token },
      stdin: 'ignore',
      stdout: 'inherit',
      stderr: 'inherit',
      reject: false,
    });
    void child.then((r) => {
      if (r.exitCode !== 0 && !r.isTerminated) process.stderr.write(`lifetrace: the ${name} agent stopped (exit ${String(r.exitCode)})\n`);
    });
    children.push(child);
  };
  if (here.agent) agent([], 'local');
  const flags = values as { sample?: boolean; 'no-sample'?: boolean };
  const sample = flags.sample === true || (flags['no-sample'] !== true && !here.kprobes);
  if (sample) agent(['--replay', SAMPLE_CAPTURE, '--loop', '--host', 'sample-debian-6.1'], 'sample replay');

  print(`lifetrace: dashboard at ${server.url}\n`);
  if (here.agent) print("lifetrace: a local agent streams this machine's kernel\n");
  if (here.why) print(`lifetrace: ${here.why}\n`);
  if (sample) print(`lifetrace: replaying the bundled sample in a loop (host sample-debian-6.1): ${SAMPLE_CAPTURE}\n`);
  print('lifetrace: Ctrl-C stops\n');
  await untilSignal();
  for (const c of children) c.kill('SIGINT');
  await Promise.allSettled(children);
  await server.close();
  return ok(0);
}
