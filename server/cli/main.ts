/** The lifetrace command line: a thin layer over the programmatic API. Only this layer prints and exits. */
import { fileURLToPath } from 'node:url';
import { err, ok } from '../support/result.js';
import { LIFETRACE_VERSION } from '../support/version.js';
import { CANNOT_TRACE_STATUS, type CommandResult, type Failure, type Print } from './args.js';

const USAGE = `lifetrace ${LIFETRACE_VERSION}: kernel object lifetimes and racy orderings from bpftrace probes

usage: lifetrace COMMAND [options]

commands:
  analyze CAPTURE   report lifetimes and suspicious orderings of a capture (--help for options)
  export CAPTURE    a capture as a trace for ui.perfetto.dev: lifetimes, phases, flags, evidence flows
  capture --out F   record a capture here or in a QEMU guest (--vm), with a workload or stress preset
  probes            how each probe resolves on this kernel (or a guest's: --vm) and which rules can run
  rules             list the rules with their severity and the kernel thread each comes from
  serve             the dashboard, REST API and agent ingest on one port (loopback by default)
  agent             stream this kernel's probes (or a replayed capture) to a server
  worker --nats URL analyze a share of a fleet's hosts from NATS JetStream (docs/fleet.md)
  replay CAPTURE    the dashboard on a capture, with play, pause, speed, seek and next flag
  kernel build      build (once) a guest kernel with a historical bug back in, for --vm --kernel PATH
  start             what 'npm start' runs: serve, plus a local agent or a replay of the bundled sample
  help              this text

Run 'lifetrace COMMAND --help' for a command's options.`;

/** The exit status of a command that could not do its job: usage or input error (the message says what to do). */
const USAGE_STATUS = 2;

/**
 * The one place a command's expected failure becomes what the user sees: its message on standard
 * error, and its exit status. Bugs are thrown, and end the process with their stack.
 */
function failed(f: Failure): number {
  const [message, status] = typeof f === 'string' ? [f, USAGE_STATUS] : [f.cannotTrace, CANNOT_TRACE_STATUS];
  process.stderr.write(`lifetrace: ${message}\n`);
  return status;
}

/**
 * Each command's module is loaded when it runs: a guest under TCG takes tens of seconds to compile
 * the modules of every command (the server, the exporter...) before a capture can start.
 */
async function run(cmd: string | undefined, rest: string[], print: Print): Promise<CommandResult> {
  switch (cmd) {
    case 'analyze':
      return (await import('./analyze.js')).analyzeCommand(rest, print);
    case 'rules':
      return (await import('./rules.js')).rulesCommand(rest, print);
    case 'capture':
      return (await import('./capture.js')).captureCommand(rest, print);
    case 'probes':
      return (await import('./probes.js')).probesCommand(rest, print);
    case 'guest-run':
      return ok(await (await import('./guest.js')).guestRun(rest, main));
    case 'serve':
      return (await import('./serve.js')).serveCommand(rest, print);
    case 'agent':
      return (await import('./agent.js')).agentCommand(rest, print);
    case 'worker':
      return (await import('./worker.js')).workerCommand(rest, print);
    case 'replay':
      return (await import('./replay.js')).replayCommand(rest, print);
    case 'export':
      return (await import('./export.js')).exportCommand(rest, print);
    case 'start':
      return (await import('./start.js')).startCommand(rest, print);
    case 'kernel':
      return (await import('./kernel.js')).kernelCommand(rest, print);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      print(`${USAGE}\n`);
      return ok(cmd === undefined ? USAGE_STATUS : 0);
    case '--version':
    case '-V':
      print(`${LIFETRACE_VERSION}\n`);
      return ok(0);
    default:
      return err(`unknown command ${JSON.stringify(cmd)}\n\n${USAGE}`);
  }
}

export async function main(argv: string[], print: Print = (s) => void process.stdout.write(s)): Promise<number> {
  const [cmd, ...rest] = argv;
  const r = await run(cmd, rest, print);
  return r.ok ? r.value : failed(r.error);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(process.argv.slice(2));
}
