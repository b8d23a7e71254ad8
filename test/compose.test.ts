/**
 * docker-compose.yml and the Dockerfile, checked without a Docker engine: the compose file is
 * validated and resolved by Debian's docker-compose (1.29, `docker-compose config`), and each
 * service's essentials are asserted on what it resolves to; the Dockerfile is read stage by stage.
 *
 * docker-compose 1.29 prints its resolved configuration only as YAML. It is read back with PyYAML,
 * the YAML library docker-compose itself is built on (a dependency of Debian's package), through
 * python3, so the project needs no YAML library of its own.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const composeFile = join(root, 'docker-compose.yml');
const TOKEN = 'compose-test-token-0123456789';

/** No .env from the working tree and no variable from the caller's environment leaks in. */
const emptyEnvFile = join(mkdtempSync(join(tmpdir(), 'lifetrace-compose-')), 'empty.env');
writeFileSync(emptyEnvFile, '');

interface Service {
  build?: { context?: string; target?: string };
  image?: string;
  profiles?: string[];
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  user?: string;
  privileged?: boolean;
  pid?: string;
  read_only?: boolean;
  cap_add?: string[];
  cap_drop?: string[];
  restart?: string;
  healthcheck?: { test?: string[] };
  depends_on?: Record<string, { condition?: string }>;
  security_opt?: string[];
  network_mode?: string;
}
interface Config {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

async function composeConfig(vars: Record<string, string>) {
  return execa('docker-compose', ['--env-file', emptyEnvFile, '--project-directory', root, '-f', composeFile, 'config'], {
    cwd: root,
    reject: false,
    extendEnv: false,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? tmpdir(), ...vars },
  });
}

const YAML_TO_JSON = 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)';

async function resolved(vars: Record<string, string>): Promise<Config> {
  const r = await composeConfig(vars);
  if (r.exitCode !== 0) {
    const missing =
      r.exitCode === undefined || /ENOENT/.test(String(r.message)) ? " (install Debian's docker-compose, as .ci/run does)" : '';
    throw new Error(`docker-compose config failed${missing}: ${r.stderr || r.message}`);
  }
  const j = await execa('python3', ['-c', YAML_TO_JSON], { input: r.stdout, reject: false });
  if (j.exitCode !== 0) throw new Error(`cannot read docker-compose's YAML with python3-yaml: ${j.stderr || j.message}`);
  return JSON.parse(j.stdout) as Config;
}

/** `SOURCE:TARGET[:MODE]` of a resolved short-syntax volume. */
function mounts(s: Service): { source: string; target: string; mode: string }[] {
  return (s.volumes ?? []).map((v) => {
    const [source = '', target = '', mode = 'rw'] = v.split(':');
    return { source, target, mode };
  });
}

/** The nats service's command as its container gets it (`docker-compose config` prints `$` as `$$`). */
const natsCommand = (s: Service): string[] => (s.command ?? []).map((a) => a.replaceAll('$$', '$'));

function option(command: string[] | undefined, name: string): string | undefined {
  const i = (command ?? []).indexOf(name);
  return i >= 0 ? command![i + 1] : undefined;
}

describe('docker-compose.yml (resolved by docker-compose config)', () => {
  let config: Config;
  let server: Service;
  let agent: Service;
  beforeAll(async () => {
    config = await resolved({ LIFETRACE_TOKEN: TOKEN });
    server = config.services.server!;
    agent = config.services.agent!;
  });

  it('has the services server and agent, built from this repository, and the fleet profile nats, nats-agent, nats-worker and nats-dashboard', () => {
    expect(Object.keys(config.services).sort()).toEqual(['agent', 'nats', 'nats-agent', 'nats-dashboard', 'nats-worker', 'server']);
    expect(server.build).toMatchObject({ context: root, target: 'server' });
    expect(agent.build).toMatchObject({ context: root, target: 'agent' });
    expect(config.services['nats-agent']!.build).toMatchObject({ context: root, target: 'agent' });
    // `docker-compose up` starts what it always did; `--profile fleet` adds the broker.
    expect(server.profiles).toBeUndefined();
    expect(agent.profiles).toBeUndefined();
    expect(config.services.nats!.profiles).toEqual(['fleet']);
    expect(config.services['nats-agent']!.profiles).toEqual(['fleet']);
  });

  it('server: serves on all interfaces inside the container, with the data in a named volume', () => {
    expect(server.command?.[0]).toBe('serve');
    expect(option(server.command, '--host')).toBe('0.0.0.0');
    expect(option(server.command, '--port')).toBe('7070');
    expect(option(server.command, '--data')).toBe('/data');
    const data = mounts(server).find((m) => m.target === '/data');
    expect(data, 'a volume mounted on /data').toBeDefined();
    expect(Object.keys(config.volumes ?? {}), 'the /data volume is a named volume').toContain(data!.source);
  });

  it('server: the token comes from the environment', () => {
    expect(server.environment?.LIFETRACE_TOKEN).toBe(TOKEN);
  });

  it('server: publishes port 7070 on loopback only by default, and elsewhere only when asked', async () => {
    expect(server.ports).toEqual(['127.0.0.1:7070:7070/tcp']);
    expect(agent.ports ?? []).toEqual([]);
    expect(agent.network_mode).toBeUndefined();
    const moved = await resolved({ LIFETRACE_TOKEN: TOKEN, LIFETRACE_PORT: '8080' });
    expect(moved.services.server!.ports).toEqual(['127.0.0.1:8080:7070/tcp']);
    const exposed = await resolved({ LIFETRACE_TOKEN: TOKEN, LIFETRACE_BIND: '0.0.0.0' });
    expect(exposed.services.server!.ports).toEqual(['0.0.0.0:7070:7070/tcp']);
  });

  it('server: unprivileged, no capabilities, read-only root, restarted, health-checked with the token', () => {
    expect(server.user).toBeDefined();
    expect(['root', '0']).not.toContain(server.user!.split(':')[0]);
    expect(server.privileged ?? false).toBe(false);
    expect(server.pid).toBeUndefined();
    expect(server.cap_add ?? []).toEqual([]);
    expect(server.cap_drop).toEqual(['ALL']);
    expect(server.read_only).toBe(true);
    expect(server.restart).toBe('unless-stopped');
    const probe = (server.healthcheck?.test ?? []).join(' ');
    expect(probe).toMatch(/^CMD(-SHELL)? /);
    expect(probe).toContain('http://127.0.0.1:7070/api/server');
    expect(probe).toContain('process.env.LIFETRACE_TOKEN');
  });

  it('agent: privileged, in the host PID namespace, with the mounts bpftrace needs', () => {
    expect(agent.privileged).toBe(true);
    expect(agent.pid).toBe('host');
    const m = mounts(agent);
    const at = (path: string) => m.find((x) => x.target === path);
    for (const path of ['/sys/kernel/debug', '/sys/kernel/btf', '/sys/fs/bpf', '/lib/modules']) {
      expect(at(path), `${path} mounted`).toBeDefined();
      expect(at(path)!.source, `${path} is the host's`).toBe(path);
    }
    expect(at('/sys/kernel/btf')!.mode).toBe('ro');
    expect(at('/lib/modules')!.mode).toBe('ro');
    // bpftrace writes kprobe events under debugfs/tracefs and pins under /sys/fs/bpf.
    expect(at('/sys/kernel/debug')!.mode).toBe('rw');
    expect(at('/sys/fs/bpf')!.mode).toBe('rw');
    expect(['root', '0', undefined]).toContain(agent.user);
    expect(agent.restart).toBe('unless-stopped');
  });

  it('agent: streams to the server over the compose network with the token, once the server is healthy', async () => {
    expect(agent.command?.[0]).toBe('agent');
    expect(option(agent.command, '--server')).toBe('http://server:7070/');
    expect(agent.environment?.LIFETRACE_TOKEN).toBe(TOKEN);
    expect(agent.depends_on).toEqual({ server: { condition: 'service_healthy' } });
    expect(option(agent.command, '--host')).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
    const named = await resolved({ LIFETRACE_TOKEN: TOKEN, LIFETRACE_HOST_NAME: 'db-7' });
    expect(option(named.services.agent!.command, '--host')).toBe('db-7');
  });

  it('nats: JetStream on a named volume, the configuration of server/fleet read-only, on loopback by default', async () => {
    const nats = config.services.nats!;
    expect(nats.image).toMatch(/^nats:2\.9/); // the version the tests run (Debian's nats-server 2.9)
    const command = natsCommand(nats).at(-1)!;
    expect(command).toMatch(/exec nats-server -c \/etc\/nats\/lifetrace\.conf -js -sd \/data /);
    const m = mounts(nats);
    const data = m.find((x) => x.target === '/data');
    expect(Object.keys(config.volumes ?? {})).toContain(data!.source);
    expect(m.find((x) => x.target === '/etc/nats/lifetrace.conf')).toEqual({
      source: join(root, 'server', 'fleet', 'nats-server.conf'),
      target: '/etc/nats/lifetrace.conf',
      mode: 'ro',
    });
    expect(nats.ports).toEqual(['127.0.0.1:4222:4222/tcp']);
    const exposed = await resolved({ LIFETRACE_TOKEN: TOKEN, LIFETRACE_NATS_BIND: '0.0.0.0', LIFETRACE_NATS_PORT: '14222' });
    expect(exposed.services.nats!.ports).toEqual(['0.0.0.0:14222:4222/tcp']);
    expect(nats.read_only).toBe(true);
    expect(nats.cap_drop).toEqual(['ALL']);
    expect(nats.privileged ?? false).toBe(false);
    expect(nats.security_opt).toEqual(['no-new-privileges:true']);
  });

  it('nats: the container refuses to start nats-server without the three passwords (16+ characters, a letter first)', async () => {
    const passwords = { LIFETRACE_NATS_AGENT_PASS: 'a', LIFETRACE_NATS_WORKER_PASS: 'w', LIFETRACE_NATS_DASHBOARD_PASS: 'd' };
    const withPasswords = await resolved({ LIFETRACE_TOKEN: TOKEN, ...passwords });
    expect(withPasswords.services.nats!.environment).toEqual(passwords);
    // The command as the container runs it, by a real sh (the image's is busybox's; both are POSIX).
    const [sh, ...args] = natsCommand(config.services.nats!);
    const run = (env: Record<string, string>) =>
      execa(sh!, args, { reject: false, extendEnv: false, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } });
    const good = {
      LIFETRACE_NATS_AGENT_PASS: 'agent-0123456789abcdef',
      LIFETRACE_NATS_WORKER_PASS: 'worker-0123456789abcdef',
      LIFETRACE_NATS_DASHBOARD_PASS: 'dashboard-0123456789abcdef',
    };
    for (const [env, missing] of [
      [{}, 'LIFETRACE_NATS_AGENT_PASS'],
      [{ ...good, LIFETRACE_NATS_AGENT_PASS: 'agent-too-short' }, 'LIFETRACE_NATS_AGENT_PASS'],
      [{ ...good, LIFETRACE_NATS_WORKER_PASS: '' }, 'LIFETRACE_NATS_WORKER_PASS'],
      [{ ...good, LIFETRACE_NATS_WORKER_PASS: '0123456789abcdef0123' }, 'LIFETRACE_NATS_WORKER_PASS'],
      [{ ...good, LIFETRACE_NATS_DASHBOARD_PASS: 'short' }, 'LIFETRACE_NATS_DASHBOARD_PASS'],
    ] as [Record<string, string>, string][]) {
      const r = await run(env);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toBe(`nats: set ${missing} to a secret of 16+ characters starting with a letter`);
    }
    // All set: nats-server itself starts (here it finds no /etc/nats: the image's mount is not here).
    const r = await run(good);
    expect(r.stderr).toMatch(/^nats-server: open \/etc\/nats\/lifetrace\.conf/);
  });

  it('nats-agent: publishes this kernel to the broker as the agent user, with the kernel access the agent has', async () => {
    const natsAgent = config.services['nats-agent']!;
    expect(natsAgent.command?.[0]).toBe('agent');
    expect(option(natsAgent.command, '--nats')).toBe('nats://nats:4222');
    expect(option(natsAgent.command, '--nats-user')).toBe('agent');
    expect(natsAgent.command).not.toContain('--nats-pass'); // not on a command line: from the environment
    const set = await resolved({ LIFETRACE_TOKEN: TOKEN, LIFETRACE_NATS_AGENT_PASS: 'agent-0123456789abcdef' });
    expect(set.services['nats-agent']!.environment).toEqual({ LIFETRACE_NATS_PASS: 'agent-0123456789abcdef' });
    expect(natsAgent.depends_on).toEqual({ nats: { condition: 'service_started' } });
    for (const key of ['user', 'privileged', 'pid', 'volumes'] as const) expect(natsAgent[key]).toEqual(agent[key]);
  });

  it('nats-worker: analyzes hosts from the broker as the worker user, unprivileged and read-only', async () => {
    const w = config.services['nats-worker']!;
    expect(w.build).toMatchObject({ context: root, target: 'server' });
    expect(w.profiles).toEqual(['fleet']);
    expect(w.command?.[0]).toBe('worker');
    expect(option(w.command, '--nats')).toBe('nats://nats:4222');
    expect(option(w.command, '--nats-user')).toBe('worker');
    expect(w.command).not.toContain('--nats-pass');
    const set = await resolved({ LIFETRACE_TOKEN: TOKEN, LIFETRACE_NATS_WORKER_PASS: 'worker-0123456789abcdef' });
    expect(set.services['nats-worker']!.environment).toEqual({ LIFETRACE_NATS_PASS: 'worker-0123456789abcdef' });
    expect(w.user).toBe('node');
    expect(w.read_only).toBe(true);
    expect(w.cap_drop).toEqual(['ALL']);
    expect(w.security_opt).toEqual(['no-new-privileges:true']);
    expect(w.depends_on).toEqual({ nats: { condition: 'service_started' } });
  });

  it("nats-dashboard: serves the fleet's results from the broker as the dashboard user, with the token, unprivileged and read-only", async () => {
    const d = config.services['nats-dashboard']!;
    expect(d.build).toMatchObject({ context: root, target: 'server' });
    expect(d.profiles).toEqual(['fleet']);
    expect(d.command?.[0]).toBe('serve');
    expect(option(d.command, '--nats')).toBe('nats://nats:4222');
    expect(option(d.command, '--nats-user')).toBe('dashboard');
    expect(option(d.command, '--host')).toBe('0.0.0.0');
    expect(d.command).not.toContain('--nats-pass');
    const set = await resolved({ LIFETRACE_TOKEN: TOKEN, LIFETRACE_NATS_DASHBOARD_PASS: 'dashboard-0123456789abcdef' });
    expect(set.services['nats-dashboard']!.environment).toEqual({
      LIFETRACE_TOKEN: TOKEN,
      LIFETRACE_NATS_PASS: 'dashboard-0123456789abcdef',
    });
    expect(d.ports).toEqual(['127.0.0.1:7071:7070/tcp']);
    // Saved ranges of the stream go to a named volume, not the container's memory.
    expect(option(d.command, '--data')).toBe('/data');
    const data = mounts(d).find((m) => m.target === '/data');
    expect(Object.keys(config.volumes ?? {})).toContain(data?.source);
    expect(d.user).toBe('node');
    expect(d.read_only).toBe(true);
    expect(d.cap_drop).toEqual(['ALL']);
    expect(d.depends_on).toEqual({ nats: { condition: 'service_started' } });
  });

  it('refuses to resolve without LIFETRACE_TOKEN (unset or empty), saying so', async () => {
    for (const vars of [{}, { LIFETRACE_TOKEN: '' }] as Record<string, string>[]) {
      const r = await composeConfig(vars);
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toMatch(/set LIFETRACE_TOKEN to a secret of 16\+ characters/);
      expect(r.stdout).toBe('');
    }
  });
});

// --- The Dockerfile, read as the builder reads it: instructions (continuations joined), stages.

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  name: string;
  from: string;
  body: Instruction[];
}

function parseDockerfile(text: string): { stages: Stage[]; args: Record<string, string> } {
  const logical: string[] = [];
  let carry = '';
  for (const raw of text.split('\n')) {
    if (carry === '' && /^\s*(#|$)/.test(raw)) continue;
    if (/^\s*#/.test(raw)) continue; // a comment inside a continued instruction
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) carry += `${line.slice(0, -1)} `;
    else {
      logical.push((carry + line).trim());
      carry = '';
    }
  }
  if (carry !== '') logical.push(carry.trim());
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const l of logical) {
    const m = /^(\S+)\s*(.*)$/.exec(l)!;
    const op = m[1]!.toUpperCase();
    const rest = m[2]!;
    if (op === 'FROM') {
      const f = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (!f) throw new Error(`cannot read FROM ${rest}`);
      const from = f[1]!.replace(/\$\{(\w+)\}|\$(\w+)/g, (_s, a: string | undefined, b: string | undefined) => args[(a ?? b)!] ?? '');
      stages.push({ name: f[2] ?? String(stages.length), from, body: [] });
    } else if (stages.length === 0) {
      if (op !== 'ARG') throw new Error(`${op} before the first FROM`);
      const a = /^(\w+)(?:=(\S*))?$/.exec(rest);
      if (a) args[a[1]!] = a[2] ?? '';
    } else stages.at(-1)!.body.push({ op, args: rest });
  }
  return { stages, args };
}

/** A stage's instructions with those of the stages it is built FROM, oldest first, and its base image. */
function lineage(stages: Stage[], name: string): { image: string; body: Instruction[]; names: string[] } {
  const s = stages.find((x) => x.name === name);
  if (!s) throw new Error(`no stage ${name}`);
  if (stages.some((x) => x.name === s.from)) {
    const up = lineage(stages, s.from);
    return { image: up.image, body: [...up.body, ...s.body], names: [...up.names, name] };
  }
  return { image: s.from, body: s.body, names: [name] };
}

/** .dockerignore patterns as the builder matches them (a match on a directory excludes what it holds). */
function ignoredBy(patterns: string[], path: string): boolean {
  const parts = path.split('/');
  return patterns.some((p) => {
    const body = p
      .replace(/^\/+|\/+$/g, '')
      .split('/')
      .map((seg) =>
        seg === '**'
          ? '(?:.*/)?'
          : `${seg
              .replace(/[.+^${}()|[\]\\]/g, '\\$&')
              .replace(/\*/g, '[^/]*')
              .replace(/\?/g, '[^/]')}/`,
      )
      .join('');
    const re = new RegExp(`^${body.replace(/\/$/, '').replace(/\(\?:\.\*\/\)\?$/, '.*')}$`);
    return parts.some((_, i) => re.test(parts.slice(0, i + 1).join('/')));
  });
}

/** COPY sources taken from the build context (not --from another stage). */
function contextCopies(body: Instruction[]): string[] {
  return body
    .filter((i) => (i.op === 'COPY' || i.op === 'ADD') && !/--from=/.test(i.args))
    .flatMap((i) => {
      const words = i.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      return words.slice(0, -1);
    });
}

describe('Dockerfile', () => {
  const { stages } = parseDockerfile(readFileSync(join(root, 'Dockerfile'), 'utf8'));
  const ignore = readFileSync(join(root, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const runs = (body: Instruction[]) => body.filter((i) => i.op === 'RUN').map((i) => i.args);

  it('has the targets the compose file builds, on Node 20 over Debian bookworm', async () => {
    const names = stages.map((s) => s.name);
    const config = await resolved({ LIFETRACE_TOKEN: TOKEN });
    // Every service is built here but the broker, which is the NATS project's image.
    for (const s of Object.values(config.services)) if (s.image === undefined) expect(names).toContain(s.build!.target);
    for (const target of ['server', 'agent']) expect(lineage(stages, target).image).toMatch(/^node:20(\.\d+)*-bookworm(-slim)?$/);
  });

  it('installs the npm packages with npm ci from package-lock.json and builds with npm run build', () => {
    const build = stages.find((s) => runs(s.body).some((r) => /\bnpm run build\b/.test(r)));
    expect(build, 'a stage runs npm run build').toBeDefined();
    const i = build!.body.findIndex((x) => x.op === 'RUN' && /\bnpm ci\b/.test(x.args));
    expect(i, 'npm ci before the build').toBeGreaterThan(-1);
    expect(build!.body.findIndex((x) => x.op === 'RUN' && /\bnpm run build\b/.test(x.args))).toBeGreaterThan(i);
    const lock = build!.body.findIndex((x) => x.op === 'COPY' && /\bpackage-lock\.json\b/.test(x.args));
    expect(lock, 'package-lock.json copied before npm ci').toBeGreaterThan(-1);
    expect(lock).toBeLessThan(i);
    // The images' node_modules also come from the lock file (runtime packages only).
    for (const target of ['server', 'agent']) {
      const body = lineage(stages, target).body;
      const from = body.find((x) => x.op === 'COPY' && /\bnode_modules\b/.test(x.args));
      expect(from, `${target} gets node_modules`).toBeDefined();
      const src = /--from=(\S+)/.exec(from!.args)?.[1];
      expect(runs(stages.find((s) => s.name === src)!.body).some((r) => /\bnpm ci\b.*--omit=dev/.test(r))).toBe(true);
    }
  });

  it('the agent installs bpftrace from Debian (apt-get) and runs as root', () => {
    const agent = lineage(stages, 'agent');
    expect(runs(agent.body).some((r) => /\bapt-get update\b/.test(r) && /\bapt-get install\b[^;&|]*\bbpftrace\b/.test(r))).toBe(true);
    const user = agent.body.filter((x) => x.op === 'USER').at(-1)?.args;
    expect(['root', '0', undefined]).toContain(user);
    // bpftrace belongs to the agent alone.
    expect(runs(lineage(stages, 'server').body).some((r) => /bpftrace/.test(r))).toBe(false);
  });

  it('the server runs as a non-root user and owns /data', () => {
    const server = lineage(stages, 'server');
    const user = server.body.filter((x) => x.op === 'USER').at(-1)?.args;
    expect(user, 'a USER in the server stage').toBeDefined();
    expect(['root', '0']).not.toContain(user!.split(':')[0]);
    expect(runs(server.body).some((r) => /\bchown\b[^;&|]*\/data\b/.test(r))).toBe(true);
  });

  it('the images hold what lifetrace reads at run time, and the build context has it', () => {
    expect(
      ignore.some((p) => p.startsWith('!')),
      'no negated .dockerignore patterns (the check below does not read them)',
    ).toBe(false);
    for (const path of ['node_modules', 'dist', '.git', 'test-results', '.env'])
      expect(ignoredBy(ignore, path), `${path} kept out of the context`).toBe(true);
    for (const target of ['server', 'agent']) {
      const body = lineage(stages, target).body;
      const copied = contextCopies(body);
      for (const need of ['package.json', 'server/bin', 'web', 'probes', 'test/fixtures/sample.ljsonl.gz'])
        expect(copied, `${target} has ${need}`).toContain(need);
      const built = body
        .filter((x) => x.op === 'COPY' && /--from=/.test(x.args))
        .map((x) => x.args.split(/\s+/).filter((w) => !w.startsWith('--'))[0]);
      expect(
        built.some((p) => /\/dist\/server$/.test(p!)),
        `${target} has dist/server`,
      ).toBe(true);
      expect(
        built.some((p) => /\/dist\/web$/.test(p!)),
        `${target} has dist/web`,
      ).toBe(true);
      expect(body.find((x) => x.op === 'ENTRYPOINT')?.args).toMatch(/server\/bin\/lifetrace\.js/);
    }
    const everything = stages.flatMap((s) => contextCopies(s.body));
    for (const p of everything) {
      expect(existsSync(join(root, p)), `${p} exists in the repository`).toBe(true);
      expect(ignoredBy(ignore, p), `${p} is not excluded by .dockerignore`).toBe(false);
    }
  });
});
