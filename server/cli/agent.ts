/** `lifetrace agent`: stream this kernel's probes (or a replayed capture) to a lifetrace server. */
import { readFileSync } from 'node:fs';
import { runAgent, type UplinkTarget } from '../agent/agent.js';
import { LinkRefused } from '../agent/uplink.js';
import { bpftraceSource } from '../agent/bpftrace-source.js';
import { replaySource, type ReplaySpeed } from '../agent/replay-source.js';
import type { LineSource } from '../agent/sources.js';
import { vmSource } from '../agent/vm-source.js';
import { NATS_FLAG_OPTIONS, natsTargetOf } from '../fleet/credentials.js';
import { nameProblem } from '../live/names.js';
import { isStressPreset, STRESS_PRESETS, type StressPreset } from '../recorder/stress.js';
import { err, ok, type Result } from '../support/result.js';
import { cannotTrace, parse, positiveNumber, type CommandResult, type Failure, type Print } from './args.js';
import { parseFamilies, parseKernel } from './trace-args.js';

export const AGENT_USAGE = `usage: lifetrace agent --server URL [--token T | --token-file F] [--families a,b] [--host NAME]
       lifetrace agent --nats URL (--nats-user U --nats-pass P | --nats-token T | --nats-nkey F | --nats-creds F) [--nats-ca F] ...
       lifetrace agent --server URL ... --vm [--kernel 6.1|6.12|PATH [--modules DIR]] [--duration S] [--stress PRESET] [-- CMD ARGS...]
       lifetrace agent --server URL ... --replay CAPTURE [--speed N|max] [--loop]

Runs the probes on this kernel and streams their records to a lifetrace server, or publishes them
to NATS JetStream. On a lost connection it keeps what was not acknowledged (in memory, then
spilled to disk) and resends it on reconnect: nothing lost, nothing doubled. Stop it with Ctrl-C.

  --server      the server's URL, e.g. http://127.0.0.1:7070/
  --token       the server's agent token (default LIFETRACE_TOKEN); --token-file reads it from a file
  --nats        publish to NATS JetStream instead (nats://HOST:PORT, or tls://HOST:PORT): stream
                LIFETRACE, subject lifetrace.batches.HOST (docs/fleet.md); the stream is created if
                missing. Credentials, one kind of them (the server must require them):
  --nats-user, --nats-pass   user and password (the password default LIFETRACE_NATS_PASS)
  --nats-token  a token (default LIFETRACE_NATS_TOKEN)
  --nats-nkey   a file holding an nkey seed (SU...)
  --nats-creds  a credentials file (JWT and seed, decentralized auth)
  --nats-ca     the certificate authority (PEM) that signed the NATS server's certificate: TLS
  --families    probe families (default: all that this kernel supports)
  --host        the name this host has on the dashboard (default: the hostname)
  --vm          trace a stock Debian kernel in a disposable QEMU guest instead of this machine's (for
                kernels that cannot attach kprobes); the guest runs the workload given by --duration,
                --stress and/or -- CMD, and the stream ends with it; --kernel PATH boots that kernel image
                instead (with --modules DIR, its lib/modules/RELEASE, when it has modules)
  --replay      stream a capture file instead of the live kernel (labelled a replay on the dashboard)
  --speed       replay pace: N times the capture's own timing (default 1), or max
  --loop        replay again from the start when the capture ends
  --spill-dir   where unacknowledged batches overflow to (default: the temp directory)
  --max-memory-mb  unacknowledged batches kept in memory before spilling (default 64)

Exits 0 when the stream ended (or Ctrl-C stopped it), 2 for a usage error or a server that refuses
the agent, 77 when this machine cannot trace (not root, no tracefs, no probe of the families can
attach).`;

export async function agentCommand(argv: string[], print: Print): Promise<CommandResult> {
  const dash = argv.indexOf('--');
  const command = dash >= 0 ? argv.slice(dash + 1) : undefined;
  const parsed = parse(
    dash >= 0 ? argv.slice(0, dash) : argv,
    {
      vm: { type: 'boolean' },
      kernel: { type: 'string' },
      modules: { type: 'string' },
      duration: { type: 'string' },
      stress: { type: 'string' },
      server: { type: 'string' },
      token: { type: 'string' },
      'token-file': { type: 'string' },
      ...NATS_FLAG_OPTIONS,
      families: { type: 'string' },
      host: { type: 'string' },
      replay: { type: 'string' },
      speed: { type: 'string' },
      loop: { type: 'boolean' },
      'spill-dir': { type: 'string' },
      'max-memory-mb': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    AGENT_USAGE,
  );
  if (!parsed.ok) return parsed;
  const { values, positionals } = parsed.value;
  if (values.help) {
    print(`${AGENT_USAGE}\n`);
    return ok(0);
  }
  if (positionals.length > 0) return err(`unexpected ${JSON.stringify(positionals[0])}\n\n${AGENT_USAGE}`);
  const target = values.nats !== undefined ? natsUplink(values) : serverUplink(values);
  if (!target.ok) return target;
  const uplink = target.value;
  if (values.host !== undefined && nameProblem('host', values.host)) return err(`--host: ${nameProblem('host', values.host)}`);
  const pace = parseSpeed(values.speed);
  if (!pace.ok) return pace;
  const speed = pace.value;
  if (!values.replay && (values.speed !== undefined || values.loop)) return err('--speed and --loop go with --replay');
  const chosen = parseFamilies(values.families);
  if (!chosen.ok) return chosen;
  const families = chosen.value;
  if (values.replay && families) return err('--families does not go with --replay (the capture has its own)');
  if (values.replay && values.vm) return err('--replay and --vm do not go together');
  const stress = values.stress;
  if (stress !== undefined && !isStressPreset(stress))
    return err(`unknown stress preset ${JSON.stringify(stress)}; presets: ${Object.keys(STRESS_PRESETS).join(', ')}`);
  const duration = values.duration === undefined ? undefined : positiveNumber('duration', values.duration, 0);
  if (duration !== undefined && !duration.ok) return duration;
  const durationS = duration?.value;
  if (command !== undefined && command.length === 0) return err('nothing after --: give the command to run');
  if (!values.vm && (values.kernel || values.modules || durationS !== undefined || stress || command))
    return err('--kernel, --modules, --duration, --stress and -- CMD go with --vm');
  if (values.vm && durationS === undefined && !stress && !command)
    return err('--vm needs what the guest runs: --duration S, --stress PRESET and/or -- CMD');
  const guestKernel = values.vm ? parseKernel(values.kernel, values.modules) : undefined;
  if (guestKernel !== undefined && !guestKernel.ok) return guestKernel;
  const kernel = guestKernel?.value;

  const memory = positiveNumber('max-memory-mb', values['max-memory-mb'], 64);
  if (!memory.ok) return memory;
  const memoryMb = memory.value;
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (let round = 1; ; round++) {
      // A replay's file or a guest is the user's to fix; this machine's probes, the machine's.
      const opened: Result<LineSource, Failure> = values.replay
        ? await replaySource(values.replay, speed, values.host)
        : kernel
          ? await vmSource({ kernel, families, durationS, stress: stress as StressPreset | undefined, command, log })
          : cannotTraceHere(await bpftraceSource(families, log));
      if (!opened.ok) return opened;
      const r = await runAgent({
        ...uplink,
        source: opened.value,
        host: values.host,
        log,
        signal: abort.signal,
        ...(values['spill-dir'] ? { spillDir: values['spill-dir'] } : {}),
        maxMemoryBytes: memoryMb * (1 << 20),
      });
      log(`lifetrace: ${r.reason}: ${r.lines} lines in ${r.batches} batches${r.dropped ? `, ${r.dropped} lost to a full outbox` : ''}`);
      if (!values.loop || abort.signal.aborted) return ok(0);
      log(`lifetrace: replaying again (round ${round + 1})`);
    }
  } catch (e) {
    // The link's refusal (a wrong token, another protocol) ends the agent through its promise.
    if (e instanceof LinkRefused) return err(e.message);
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

const cannotTraceHere = <T>(r: Result<T>): Result<T, Failure> => (r.ok ? r : err(cannotTrace(r.error)));

type Flags = Record<string, string | boolean | undefined>;
/** The NATS flags besides --nats itself (only with --nats). */
const NATS_FLAGS = Object.keys(NATS_FLAG_OPTIONS).filter((f) => f !== 'nats');

function serverUplink(values: Flags): Result<UplinkTarget> {
  if (typeof values.server !== 'string')
    return err(`--server URL is required (or --nats URL, to publish to NATS JetStream)\n\n${AGENT_USAGE}`);
  const stray = NATS_FLAGS.find((f) => values[f] !== undefined);
  if (stray) return err(`--${stray} goes with --nats`);
  let server: URL;
  try {
    server = new URL(values.server);
  } catch {
    return err(`--server needs a URL like http://127.0.0.1:7070/, got ${JSON.stringify(values.server)}`);
  }
  if (!/^(http|ws)s?:$/.test(server.protocol)) return err(`--server must be http(s):// or ws(s)://, got ${server.protocol}`);
  const tokenFile = values['token-file'];
  let token = values.token as string | undefined;
  if (token === undefined && typeof tokenFile === 'string') {
    const read = readSecret('--token-file', tokenFile);
    if (!read.ok) return read;
    token = read.value;
  }
  token ??= process.env.LIFETRACE_TOKEN;
  if (!token)
    return err('the server needs its agent token: --token T, --token-file F or LIFETRACE_TOKEN (lifetrace serve prints where it keeps it)');
  return ok({ server: server.href, token });
}

/** NATS: the URL and exactly one kind of credentials (an anonymous publisher is never the default). */
function natsUplink(values: Flags): Result<UplinkTarget> {
  if (values.server !== undefined) return err('--server and --nats do not go together: the agent sends to one or the other');
  if (values.token !== undefined || values['token-file'] !== undefined)
    return err("--token is the lifetrace server's; NATS takes --nats-token, --nats-user/--nats-pass, --nats-nkey or --nats-creds");
  const target = natsTargetOf(values);
  return target.ok ? ok({ nats: target.value }) : target;
}

function readSecret(flag: string, file: string): Result<string> {
  try {
    return ok(readFileSync(file, 'utf8').trim());
  } catch (e) {
    return err(`cannot read ${flag} ${file}: ${(e as Error).message}`);
  }
}

function parseSpeed(v: string | undefined): Result<ReplaySpeed> {
  if (v === undefined) return ok(1);
  if (v === 'max') return ok('max');
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0.1 || n > 100) return err(`--speed takes a factor from 0.1 to 100, or max; got ${JSON.stringify(v)}`);
  return ok(n);
}
