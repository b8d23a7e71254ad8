/**
 * `lifetrace agent --nats` against a real nats-server (Debian's, 2.9) with JetStream on file
 * storage, started here on a free loopback port with users and permissions as docs/fleet.md gives
 * them. The agent runs as a real process; the test reads the host's subject back with the client
 * and holds it against the capture byte for byte.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, nkeyAuthenticator, nkeys, type NatsConnection } from '@nats-io/transport-node';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchSubject, KIND_HEADER, STREAM } from '../server/fleet/subjects.js';
import { BATCH_HEAD, decodeBatchHead } from '../server/shared/wire.js';
import { generateCapture } from './bench/generate.js';
import { BIN, until } from './support/live.js';
import { AGENT_PASS, connectAs, freePort, NatsServer } from './support/nats.js';

const root = join(import.meta.dirname, '..');
const SAMPLE = join(root, 'test', 'fixtures', 'sample.ljsonl.gz');
function agent(nats: NatsServer, args: string[], pass = AGENT_PASS) {
  return execa(process.execPath, [BIN, 'agent', '--nats', nats.url, '--nats-user', 'agent', '--nats-pass', pass, ...args], {
    reject: false,
    all: true,
    stdin: 'ignore',
  });
}

interface Stored {
  kind: string;
  id: string;
  data: Uint8Array;
}

/** Every message on the host's subject, in stream order. */
async function readHost(nc: NatsConnection, host: string): Promise<Stored[]> {
  const js = jetstream(nc);
  const consumer = await js.consumers.get(STREAM, { filter_subjects: batchSubject(host) });
  const out: Stored[] = [];
  for (;;) {
    const m = await consumer.next({ expires: 1000 });
    if (m === null) return out;
    out.push({ kind: m.headers?.get(KIND_HEADER) ?? '', id: m.headers?.get('Nats-Msg-Id') ?? '', data: m.data });
  }
}

/**
 * The host's subject holds exactly one run: its hello, batches 1..N each once and in order, whose
 * lines are the capture's after its header, byte for byte, and its end.
 */
function expectOneRun(msgs: Stored[], capture: Buffer, host: string): void {
  expect(msgs.length).toBeGreaterThan(2);
  const hello = JSON.parse(Buffer.from(msgs[0]!.data).toString()) as { type: string; run: string; host: string };
  expect(msgs[0]!.kind).toBe('hello');
  expect(hello).toMatchObject({ type: 'hello', host });
  expect(msgs[0]!.id).toBe(`${hello.run}:hello`);
  const end = msgs.at(-1)!;
  expect(end.kind).toBe('end');
  const batches = msgs.slice(1, -1);
  expect(JSON.parse(Buffer.from(end.data).toString())).toMatchObject({ type: 'end', lastSeq: batches.length, reason: 'end of capture' });
  const payloads: Buffer[] = [];
  batches.forEach((b, i) => {
    expect(b.kind).toBe('batch');
    expect(b.id).toBe(`${hello.run}:${i + 1}`);
    const head = decodeBatchHead(b.data);
    if (typeof head === 'string') throw new Error(head);
    expect(head.seq).toBe(i + 1);
    const payload = Buffer.from(b.data.subarray(BATCH_HEAD));
    expect(head.lines).toBe(payload.filter((c) => c === 10).length);
    payloads.push(payload);
  });
  const body = capture.subarray(capture.indexOf(10) + 1); // the header line travels in the hello
  const sent = Buffer.concat(payloads);
  expect(sent.length).toBe(body.length);
  expect(sent.equals(body)).toBe(true);
}

describe('agent --nats: JetStream on a real nats-server', () => {
  const nats = new NatsServer();
  let reader: NatsConnection;

  beforeAll(async () => {
    await nats.start();
    reader = await connectAs(nats, 'worker');
  });
  afterAll(async () => {
    await reader?.close();
    await nats.kill();
  });

  it('publishes a replayed capture: the stream is created, each batch stored once, in sequence, byte-equal to the capture', async () => {
    const r = await agent(nats, ['--replay', SAMPLE, '--speed', 'max', '--host', 'sample.example:1']);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).toMatch(/created the NATS stream LIFETRACE/);
    const info = await (await jetstreamManager(reader)).streams.info(STREAM);
    expect(info.config).toMatchObject({ storage: 'file', subjects: ['lifetrace.batches.>'], duplicate_window: 600e9 });
    // A host name with . and : is one subject token.
    expect(batchSubject('sample.example:1')).toBe('lifetrace.batches.sample=2Eexample=3A1');
    expectOneRun(await readHost(reader, 'sample.example:1'), gunzipSync(readFileSync(SAMPLE)), 'sample.example:1');
  });

  it('sends the lines as bytes, never re-encoded: a line that is not UTF-8 arrives byte for byte', async () => {
    const sample = gunzipSync(readFileSync(SAMPLE));
    const at = sample.lastIndexOf('"}\n');
    // Two bytes no UTF-8 decoder keeps (a decode and encode would make each one U+FFFD).
    const capture = Buffer.concat([sample.subarray(0, at), Buffer.from([0xff, 0xfe]), sample.subarray(at)]);
    const path = join(nats.store, 'not-utf8.ljsonl');
    writeFileSync(path, capture);
    const r = await agent(nats, ['--replay', path, '--speed', 'max', '--host', 'bytes']);
    expect(r.exitCode, r.all).toBe(0);
    expectOneRun(await readHost(reader, 'bytes'), capture, 'bytes');
  });

  it('nats-server killed mid-stream and started again: the agent resumes, nothing is lost or doubled', async () => {
    const capture = join(nats.store, 'big.ljsonl');
    await generateCapture(capture, 300_000, 11);
    const subject = batchSubject('restart');
    const jsm = await jetstreamManager(reader);
    // 0.9 s of kernel time at a tenth of its pace: about 9 s of publishing, about 120 batches.
    const run = agent(nats, ['--replay', capture, '--speed', '0.1', '--host', 'restart']);
    await until(
      async () => {
        const last = await jsm.streams.getMessage(STREAM, { last_by_subj: subject });
        return last !== null && last.seq > 30 ? last : undefined;
      },
      30_000,
      'batches in the stream',
    );
    await reader.close();
    await nats.kill();
    await new Promise((r) => setTimeout(r, 1500)); // batches pile up in the outbox meanwhile
    await nats.start();
    reader = await connectAs(nats, 'worker');
    const r = await run;
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).toMatch(/lost NATS/);
    expect(r.all).toMatch(/reconnected to NATS/);
    expect(r.all).toMatch(/resending batches after \d+ to NATS/);
    expectOneRun(await readHost(reader, 'restart'), readFileSync(capture), 'restart');
  });

  it('while the broker is unreachable the outbox spills to disk; once it is up everything arrives, and the spill file goes', async () => {
    const later = new NatsServer(); // its port is chosen now, nothing listens there yet
    later.port = await freePort();
    const capture = join(later.store, 'spill.ljsonl');
    await generateCapture(capture, 300_000, 13);
    const spill = mkdtempSync(join(tmpdir(), 'lifetrace-spill-'));
    const run = agent(later, ['--replay', capture, '--speed', 'max', '--host', 'spill', '--max-memory-mb', '1', '--spill-dir', spill]);
    const spilled = await until(
      () => {
        const f = readdirSync(spill).find((n) => n.endsWith('.spill'));
        return f && statSync(join(spill, f)).size > 4 << 20 ? f : undefined;
      },
      30_000,
      'the outbox to spill',
    );
    await later.start();
    try {
      const r = await run;
      expect(r.exitCode, r.all).toBe(0);
      expect(r.all).toMatch(/connection refused; retrying/); // said once, not once a try
      expect(r.all.match(/retrying/g)).toHaveLength(1);
      const nc = await connectAs(later, 'worker');
      try {
        expectOneRun(await readHost(nc, 'spill'), readFileSync(capture), 'spill');
      } finally {
        await nc.close();
      }
      expect(existsSync(join(spill, spilled))).toBe(false); // removed once the broker had everything
    } finally {
      await later.kill();
    }
  });

  it('a wrong credential is refused with a clear error and a non-zero exit; none is no default', async () => {
    const wrong = await agent(nats, ['--replay', SAMPLE, '--host', 'intruder'], 'not-the-password');
    expect(wrong.exitCode).toBe(2);
    expect(wrong.all).toMatch(/NATS server refused the agent's credentials \(Authorization Violation\)/);
    expect((await readHost(reader, 'intruder')).length).toBe(0);

    const none = await execa(process.execPath, [BIN, 'agent', '--nats', nats.url, '--replay', SAMPLE], { reject: false, all: true });
    expect(none.exitCode).toBe(2);
    expect(none.all).toMatch(/--nats needs credentials/);

    // Flags that cannot work together are usage errors before anything connects.
    const usage = async (...args: string[]) => {
      const r = await execa(process.execPath, [BIN, 'agent', '--replay', SAMPLE, ...args], { reject: false, all: true });
      expect(r.exitCode).toBe(2);
      return r.all;
    };
    expect(await usage('--nats', 'http://127.0.0.1:4222', '--nats-token', 't')).toMatch(/a NATS URL is nats:\/\/ or tls:\/\//);
    expect(await usage('--nats', 'nats://agent:pw@127.0.0.1:4222')).toMatch(/not in the URL/);
    expect(await usage('--nats', nats.url, '--server', 'http://127.0.0.1:1/', '--nats-token', 't')).toMatch(/do not go together/);
    expect(await usage('--nats', nats.url, '--nats-token', 't', '--nats-user', 'agent', '--nats-pass', 'p')).toMatch(/one kind of NATS/);
    expect(await usage('--nats', nats.url, '--nats-user', 'agent')).toMatch(/--nats-user needs its password/);
    expect(await usage('--nats', nats.url, '--token', 'server-token')).toMatch(/--token is the lifetrace server's/);
    expect(await usage('--server', 'http://127.0.0.1:1/', '--token', 't', '--nats-token', 't')).toMatch(/--nats-token goes with --nats/);

    // The agent's user may publish batches and read a subject's last message (to resume), never read
    // the stream otherwise, nor the replies other users get (their consumers' deliveries, answers).
    const nc = await connectAs(nats, 'agent');
    const worker = await connectAs(nats, 'worker');
    try {
      const js = jetstream(nc);
      await expect(
        js.consumers.get(STREAM, { filter_subjects: batchSubject('sample.example:1') }).then((c) => c.next({ expires: 500 })),
      ).rejects.toThrow();
      const jsm = await jetstreamManager(nc);
      await expect(jsm.streams.getMessage(STREAM, { seq: 1 })).rejects.toThrow(/Permissions Violation|timeout/i);
      expect(await jsm.direct.getMessage(STREAM, { last_by_subj: batchSubject('sample.example:1') })).not.toBeNull();
      const overheard: string[] = [];
      const refused: string[] = [];
      for (const subject of ['_INBOX.>', '_INBOX_worker.>', '_INBOX_dashboard.>'])
        nc.subscribe(subject, {
          callback: (e, m) => {
            if (e !== null) refused.push(subject);
            else overheard.push(m.subject);
          },
        });
      await nc.flush();
      // The worker's replies: a stream's info and a message of it.
      const wjsm = await jetstreamManager(worker);
      expect((await wjsm.streams.info(STREAM)).state.messages).toBeGreaterThan(0);
      expect(await wjsm.streams.getMessage(STREAM, { seq: 1 })).not.toBeNull();
      await until(() => (refused.length === 3 ? true : undefined), 5000, 'the subscriptions refused');
      expect(overheard).toEqual([]);
    } finally {
      await nc.close();
      await worker.close();
    }
  });
});

describe('agent --nats: nkeys, tokens and TLS', () => {
  it('an nkey over TLS with --nats-ca publishes; without the authority the certificate is refused, clearly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lifetrace-nats-tls-'));
    const at = (f: string): string => join(dir, f);
    // A certificate authority and a server certificate for localhost (the client checks an IP URL against that name too).
    const openssl = (...args: string[]) => execa('openssl', args, { cwd: dir });
    await openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca-key.pem',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=lifetrace test CA',
    );
    await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server-key.pem', '-out', 'server.csr', '-subj', '/CN=localhost');
    writeFileSync(at('san.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    await openssl(
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca-key.pem',
      '-CAcreateserial',
      '-out',
      'server.pem',
      '-days',
      '2',
      '-extfile',
      'san.cnf',
    );
    const user = nkeys.createUser();
    writeFileSync(at('agent.nk'), `${new TextDecoder().decode(user.getSeed())}\n`, { mode: 0o600 });
    const nats = new NatsServer(`tls { cert_file: "${at('server.pem')}", key_file: "${at('server-key.pem')}" }
authorization { users: [ { nkey: ${user.getPublicKey()} } ] }
`);
    await nats.start();
    try {
      const run = (...extra: string[]) =>
        execa(process.execPath, [BIN, 'agent', '--replay', SAMPLE, '--speed', 'max', '--host', 'tls', ...extra], {
          reject: false,
          all: true,
        });
      const url = `tls://localhost:${nats.port}`;
      const good = await run('--nats', url, '--nats-ca', at('ca.pem'), '--nats-nkey', at('agent.nk'));
      expect(good.exitCode, good.all).toBe(0);
      const nc = await connect({
        servers: `localhost:${nats.port}`,
        authenticator: nkeyAuthenticator(user.getSeed()),
        tls: { ca: readFileSync(at('ca.pem'), 'utf8') },
      });
      try {
        expectOneRun(await readHost(nc, 'tls'), gunzipSync(readFileSync(SAMPLE)), 'tls');
      } finally {
        await nc.close();
      }
      const untrusted = await run('--nats', url, '--nats-nkey', at('agent.nk'));
      expect(untrusted.exitCode).toBe(2);
      expect(untrusted.all).toMatch(
        /NATS server's certificate was not accepted \(unable to verify the first certificate\): give --nats-ca/,
      );
      const other = nkeys.createUser();
      writeFileSync(at('other.nk'), new TextDecoder().decode(other.getSeed()));
      const stranger = await run('--nats', url, '--nats-ca', at('ca.pem'), '--nats-nkey', at('other.nk'));
      expect(stranger.exitCode).toBe(2); // a key the server does not know
      expect(stranger.all).toMatch(/refused the agent's credentials/);
    } finally {
      await nats.kill();
    }
  });

  it('a stream made without allow_direct (an older lifetrace): the agent says how to fix it and exits 2, instead of waiting forever', async () => {
    const token = 'token-0123456789abcdef';
    const nats = new NatsServer(`authorization { token: "${token}" }\n`);
    await nats.start();
    const nc = await connect({ servers: `127.0.0.1:${nats.port}`, token });
    try {
      await (await jetstreamManager(nc)).streams.add({ name: STREAM, subjects: ['lifetrace.batches.>'] });
      const r = await execa(
        process.execPath,
        [BIN, 'agent', '--nats', nats.url, '--nats-token', token, '--replay', SAMPLE, '--speed', 'max', '--host', 'old'],
        { reject: false, all: true },
      );
      expect(r.exitCode).toBe(2);
      expect(r.all).toMatch(/does not allow direct get, which an agent resumes with: nats stream edit LIFETRACE --allow-direct/);
    } finally {
      await nc.close();
      await nats.kill();
    }
  });

  it('a token: the right one publishes, a wrong one is refused; TLS asked of a server without it is refused', async () => {
    const token = 'token-0123456789abcdef';
    const nats = new NatsServer(`authorization { token: "${token}" }\n`);
    await nats.start();
    try {
      const run = (...extra: string[]) =>
        execa(process.execPath, [BIN, 'agent', '--replay', SAMPLE, '--speed', 'max', '--host', 'token', ...extra], {
          reject: false,
          all: true,
        });
      const good = await run('--nats', nats.url, '--nats-token', token);
      expect(good.exitCode, good.all).toBe(0);
      const nc = await connect({ servers: `127.0.0.1:${nats.port}`, token });
      try {
        expectOneRun(await readHost(nc, 'token'), gunzipSync(readFileSync(SAMPLE)), 'token');
      } finally {
        await nc.close();
      }
      const wrong = await run('--nats', nats.url, '--nats-token', 'not-the-token');
      expect(wrong.exitCode).toBe(2);
      expect(wrong.all).toMatch(/refused the agent's credentials/);
      const tls = await run('--nats', `tls://127.0.0.1:${nats.port}`, '--nats-token', token);
      expect(tls.exitCode).toBe(2);
      expect(tls.all).toMatch(/does not offer TLS/);
    } finally {
      await nats.kill();
    }
  });
});
