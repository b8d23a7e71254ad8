/**
 * A realistic, deterministic capture for the benchmarks, written as a stream.
 *
 * It simulates a small machine: 4 CPUs and a few hundred processes (event-loop servers with worker
 * threads, two fanotify listeners, terminals with ptys, short-lived forked children). Each task runs
 * "scripts" (the probe records of one syscall or kernel path, in order); a CPU runs one task at a
 * time, so at most one script per CPU is in flight and scripts of different CPUs interleave. Records
 * are buffered per CPU and written in small batches, as bpftrace drains its per-CPU buffers: kernel
 * times are increasing on each CPU and out of order across CPUs by well under 1 ms.
 *
 * The workload keeps the capture mostly clean (no anomalies; only the informational flags a normal
 * system raises, e.g. epitems reaped by the final __fput):
 *   - sockets, pipes and ptys are born (alloc, fdi), registered with epoll (ctl ADD, ins, ctl_r),
 *     polled many times, then either DEL'ed and closed or closed with no DEL (eventpoll_release_file);
 *   - regular files are opened and closed, sometimes through a fanotify permission wait (< 1 ms);
 *   - readdir loops (rd ... rd_r) on a few libfs directories, with children created, unlinked and
 *     killed by the same task; a directory "lock" keeps other tasks' removals out of a readdir;
 *   - fanotify marks are added, pinned by permission waits, detached and put to zero later, never
 *     while pinned;
 *   - freed addresses go back to a per-kind free list and are reused (generations advance), and the
 *     number of live objects stays bounded (a few thousand), so memory reflects a steady state.
 *
 * Each record is written by its tag's spec (server/decode/spec.ts, writeFields) from its field values by
 * name, so a new field or tag needs no change here but in the simulation that uses it.
 *
 * Usage: node dist/test/bench/generate.js OUT EVENTS [SEED]
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { CAPTURE_FORMAT, CAPTURE_VERSION, serializeHeader } from '../../server/capture/header.js';
import { RECORD_SPECS } from '../../server/decode/routes.js';
import { type AnyRecordSpec, type WrittenFields, writeFields } from '../../server/decode/spec.js';
import { mulberry32 } from '../support/prng.js';

export interface Generated {
  /** printf records written (the header line is not counted). */
  events: number;
  bytes: number;
}

type Rng = () => number;

/** Kernel time of the first record: 5000 s of uptime. */
const T0 = 5_000_000_000_000;
/** The field separator as it appears inside the JSON string: backslash, t. */
const SEP = '\\t';
const PREFIX = '{"type": "printf", "data": "';
const SUFFIX = '"}\n';
const CHUNK_BYTES = 1 << 20;
const NCPU = 4;
/** A CPU's buffer is written once it holds this many records... */
const BATCH = 8;
/** ...or once its oldest record is this old (bpftrace polls every buffer regularly). */
const MAX_BUFFERED_NS = 200_000;

const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;

interface Step {
  tag: string;
  /** The record's fields after tid, as the JSON line has them ('' when none): written by its spec (decode/spec.ts). */
  rest: string;
  /** Runs when the record is emitted: frees addresses, releases locks, spawns tasks. */
  done: (() => void) | undefined;
  /** The task sleeps this long after the record (a permission wait on user space). */
  sleepNs: number;
}

/** The record specs by tag: a record is written by its spec, from its field values by name. */
const R = RECORD_SPECS;

function step<S extends AnyRecordSpec>(spec: S, values: WrittenFields<S>, done?: () => void, sleepNs = 0): Step {
  return { tag: spec.tag, rest: writeFields(spec, values), done, sleepNs };
}

const hex = (low: number): string => `ffff8881${low.toString(16).padStart(8, '0')}`;

/** Addresses of one slab cache: fresh ones while few are free, then reuse of freed ones. */
class AddrPool {
  private readonly free: string[] = [];
  private fresh = 0;

  constructor(
    private readonly rng: Rng,
    private readonly base: number,
    private readonly stride: number,
    /** Freed addresses kept back before reuse (slab free lists are not strictly LIFO). */
    private readonly keep = 48,
  ) {}

  take(): string {
    const f = this.free;
    if (f.length > this.keep) {
      const i = Math.floor(this.rng() * f.length);
      const a = f[i]!;
      f[i] = f[f.length - 1]!;
      f.pop();
      return a;
    }
    return hex(this.base + this.fresh++ * this.stride);
  }

  give(a: string): void {
    this.free.push(a);
  }
}

/** Lowest-free fd numbers, as the kernel allocates them. */
class FdAlloc {
  private readonly used: boolean[];

  constructor(from?: FdAlloc) {
    this.used = from ? from.used.slice() : [true, true, true];
  }

  take(): number {
    let i = 3;
    while (this.used[i] === true) i++;
    this.used[i] = true;
    return i;
  }

  give(fd: number): void {
    this.used[fd] = false;
  }
}

interface Child {
  addr: string;
  name: string;
}

interface Dir {
  addr: string;
  parent: string;
  /** Children may be created and unlinked here (tmpfs-like); false for /dev/pts. */
  tmp: boolean;
  children: Child[];
  maxChildren: number;
  /** Held by a script that walks or changes the children (the directory's i_rwsem). */
  locked: boolean;
  prefix: string;
  seq: number;
}

interface Conn {
  file: string;
  epi: string;
  fd: number;
  /** The file's dentry: anonymous for sockets and pipes, the pts entry for a pty. */
  dentry: string;
  pty: number;
}

interface Mark {
  addr: string;
  group: string;
  /** Permission waits that pinned it and have not finished. */
  pins: number;
  detachedAt: number;
}

type Role = 'server' | 'listener' | 'terminal' | 'child';

interface Proc {
  pid: number;
  comm: string;
  role: Role;
  fds: FdAlloc;
  ep: string;
  epfd: number;
  conns: Conn[];
  minConns: number;
  maxConns: number;
  /** fsnotify group of a listener. */
  group: string;
  /** Actions left before a child exits. */
  todo: number;
}

interface Task {
  proc: Proc;
  tid: number;
  cpu: number;
  main: boolean;
  /** `\tcpu\tpid\ttid` and `\tcomm"}\n`, precomputed. */
  head: string;
  tail: string;
  /** The task's fsnotify_iter_info (on its kernel stack). */
  iter: string;
  script: Step[] | null;
  pc: number;
  wakeAt: number;
}

interface Cpu {
  tasks: Task[];
  current: Task | null;
  sleepers: Task[];
  buf: string[];
  oldest: number;
}

const SERVER_COMMS = [
  'nginx',
  'redis-server',
  'postgres',
  'node',
  'java',
  'haproxy',
  'memcached',
  'containerd',
  'dockerd',
  'envoy',
  'etcd',
  'kubelet',
  'prometheus',
  'php-fpm',
  'python3',
  'dbus-daemon',
  'systemd-journal',
  'rsyslogd',
  'chronyd',
  'Chrome_IOThread',
  'tokio-runtime-w',
  'Web Content',
];
const WORKER_COMMS = ['worker', 'pool', 'io', 'bg'];
const CHILD_COMMS = ['sh', 'cat', 'ls', 'find', 'logrotate', 'grep', 'systemctl'];

class Sim {
  readonly rng: Rng;
  now = T0;
  events = 0;
  draining = false;
  /** Tasks with a script started and not finished. */
  inFlight = 0;
  readonly cpus: Cpu[] = [];
  readonly files: AddrPool;
  readonly epitems: AddrPool;
  readonly dentries: AddrPool;
  readonly marks: AddrPool;
  readonly anon: AddrPool;
  readonly dirs: Dir[] = [];
  readonly tmpDirs: Dir[] = [];
  readonly pts: Dir;
  readonly ptyUsed: boolean[] = [];
  /** Dentries of regular files (config, libraries, logs), long-lived and never freed here. */
  readonly fileDentries: string[] = [];
  readonly liveMarks: Mark[] = [];
  readonly detached: Mark[] = [];
  readonly listeners: Proc[] = [];
  private nextPid = 1000;
  private nextStack = 0;
  private nextEp = 0;
  private out: string[] = [];
  outBytes = 0;

  constructor(seed: number) {
    const rng = (this.rng = mulberry32(seed));
    this.files = new AddrPool(rng, 0x0a000000, 0x100);
    this.epitems = new AddrPool(rng, 0x1b000000, 0x80);
    this.dentries = new AddrPool(rng, 0x2c000000, 0xc0);
    this.marks = new AddrPool(rng, 0x3d000000, 0x80, 16);
    this.anon = new AddrPool(rng, 0x5f000000, 0xc0);
    for (let i = 0; i < NCPU; i++) this.cpus.push({ tasks: [], current: null, sleepers: [], buf: [], oldest: 0 });

    // Directory dentries that exist before the capture (first seen in use).
    let d = 0x2b000000;
    const dir = (parent: string, tmp: boolean, prefix: string, maxChildren: number): Dir => {
      const x: Dir = { addr: hex((d += 0xc0)), parent, tmp, children: [], maxChildren, locked: false, prefix, seq: 0 };
      this.dirs.push(x);
      if (tmp) this.tmpDirs.push(x);
      return x;
    };
    const root = hex((d += 0xc0));
    const dev = hex((d += 0xc0));
    const run = hex((d += 0xc0));
    dir(root, true, 'tmp.', 60);
    dir(dev, true, 'sem.', 30);
    dir(run, true, 'sess_', 40);
    dir(run, true, 'lock.', 20);
    this.pts = dir(dev, false, '', 0);
    for (const x of this.tmpDirs) {
      for (let i = 0; i < x.maxChildren / 2; i++) x.children.push({ addr: this.dentries.take(), name: `${x.prefix}${x.seq++}` });
    }
    for (let i = 0; i < 256; i++) this.fileDentries.push(hex(0x2a000000 + i * 0xc0));

    // The processes running when the capture starts, with what they already had open.
    for (let i = 0; i < 230; i++) {
      const comm = SERVER_COMMS[i % SERVER_COMMS.length]!;
      const threads = 1 + Math.floor(rng() * 2.4);
      this.spawnProc(
        i < 2 ? 'listener' : i < 6 ? 'terminal' : 'server',
        i < 2 ? ['fapolicyd', 'clamonacc'][i]! : i < 6 ? 'sshd' : comm,
        threads,
      );
    }
    for (const l of this.listeners) {
      for (let i = 0; i < 30; i++) this.liveMarks.push({ addr: this.marks.take(), group: l.group, pins: 0, detachedAt: 0 });
    }
  }

  private newTask(proc: Proc, tid: number, main: boolean, comm: string): Task {
    const cpu = Math.floor(this.rng() * NCPU);
    const t: Task = {
      proc,
      tid,
      cpu,
      main,
      head: `${SEP}${cpu}${SEP}${proc.pid}${SEP}${tid}`,
      tail: `${SEP}${comm}${SUFFIX}`,
      iter: `ffffc900${(0x00400000 + this.nextStack++ * 0x4000 + 0x3d48).toString(16).padStart(8, '0')}`,
      script: null,
      pc: 0,
      wakeAt: 0,
    };
    this.cpus[cpu]!.tasks.push(t);
    return t;
  }

  private spawnProc(role: Role, comm: string, threads: number): void {
    const rng = this.rng;
    const pid = this.nextPid;
    this.nextPid += 8;
    const p: Proc = {
      pid,
      comm,
      role,
      fds: new FdAlloc(),
      ep: hex(0x4e000000 + this.nextEp++ * 0x100),
      epfd: 0,
      conns: [],
      minConns: 2 + Math.floor(rng() * 3),
      maxConns: 8 + Math.floor(rng() * 10),
      group: '',
      todo: 0,
    };
    p.epfd = p.fds.take();
    if (role === 'listener') {
      p.group = hex(0x6a000000 + this.listeners.length * 0x200);
      this.listeners.push(p);
    }
    // Registered before the capture: preexisting files and epitems.
    const n = p.minConns + Math.floor(rng() * (p.maxConns - p.minConns));
    for (let i = 0; i < n; i++) {
      let pty = -1;
      let dentry: string;
      if (role === 'terminal' && i < 2) {
        pty = this.takePty();
        dentry = this.dentries.take();
      } else {
        dentry = this.anon.take();
      }
      p.conns.push({ file: this.files.take(), epi: this.epitems.take(), fd: p.fds.take(), dentry, pty });
    }
    this.newTask(p, pid, true, comm);
    for (let i = 1; i < threads; i++)
      this.newTask(p, pid + i, false, comm === 'node' || comm === 'java' ? `${comm}-${WORKER_COMMS[i % 4]}` : comm);
  }

  private takePty(): number {
    let i = 0;
    while (this.ptyUsed[i] === true) i++;
    this.ptyUsed[i] = true;
    return i;
  }

  // ---- scheduling and output

  /** Emits one record; false when there is nothing left to run (draining is over). */
  emitOne(): boolean {
    const rng = this.rng;
    for (let tries = 0; tries < 32 + NCPU; tries++) {
      // Random CPUs first; then each one in turn, so a runnable task is never missed.
      const c = this.cpus[tries < 32 ? Math.floor(rng() * NCPU) : tries - 32]!;
      const t = this.pick(c);
      if (t !== null) {
        this.run(c, t);
        return true;
      }
    }
    if (!this.draining) throw new Error('generator: no runnable task');
    if (this.inFlight === 0) return false;
    // Only sleepers are left: skip ahead to the first wake-up.
    let wake = Infinity;
    for (const c of this.cpus) for (const s of c.sleepers) if (s.wakeAt < wake) wake = s.wakeAt;
    if (wake === Infinity) throw new Error('generator: scripts in flight but nothing to run');
    if (wake > this.now) this.now = wake;
    return true;
  }

  private pick(c: Cpu): Task | null {
    if (c.current !== null) return c.current;
    const s = c.sleepers;
    for (let i = 0; i < s.length; i++) {
      const t = s[i]!;
      if (t.wakeAt <= this.now) {
        s[i] = s[s.length - 1]!;
        s.pop();
        c.current = t;
        return t;
      }
    }
    if (this.draining) return null;
    for (let tries = 0; tries < 8; tries++) {
      const t = c.tasks[Math.floor(this.rng() * c.tasks.length)]!;
      if (t.script !== null) continue; // asleep in the middle of a script
      const script = this.plan(t);
      if (script === null || script.length === 0) continue;
      t.script = script;
      t.pc = 0;
      this.inFlight++;
      c.current = t;
      return t;
    }
    return null;
  }

  private run(c: Cpu, t: Task): void {
    const script = t.script!;
    const s = script[t.pc++]!;
    this.now += 1000 + Math.floor(this.rng() * 4000);
    const line = PREFIX + s.tag + SEP + this.now + t.head + (s.rest === '' ? '' : SEP + s.rest) + t.tail;
    if (c.buf.length === 0) c.oldest = this.now;
    c.buf.push(line);
    this.events++;
    if (s.done !== undefined) s.done();
    if (t.pc >= script.length) {
      t.script = null;
      t.pc = 0;
      c.current = null;
      this.inFlight--;
    } else if (s.sleepNs > 0) {
      t.wakeAt = this.now + s.sleepNs;
      c.sleepers.push(t);
      c.current = null;
    }
    if (c.buf.length >= BATCH) this.flush(c);
    for (const o of this.cpus) if (o.buf.length > 0 && this.now - o.oldest > MAX_BUFFERED_NS) this.flush(o);
  }

  private flush(c: Cpu): void {
    for (const l of c.buf) {
      this.out.push(l);
      this.outBytes += l.length;
    }
    c.buf.length = 0;
  }

  flushAll(): void {
    for (const c of this.cpus) if (c.buf.length > 0) this.flush(c);
  }

  /** The text written so far and not yet taken (ASCII: one byte per character). */
  take(): string {
    const s = this.out.join('');
    this.out = [];
    this.outBytes = 0;
    return s;
  }

  // ---- what each task does next

  private plan(t: Task): Step[] | null {
    const p = t.proc;
    if (p.role === 'child') {
      if (p.todo-- > 0) return this.planWorker(t);
      return [step(R.exit, {}, () => this.reap(t))];
    }
    if (!t.main) return this.planWorker(t);
    const r = this.rng();
    if (p.role === 'listener' && r < 0.5) {
      const s = this.planMarks(t);
      if (s !== null) return s;
    }
    if (p.role === 'terminal' && r < 0.03) {
      const s = this.planPtyOpen(t);
      if (s !== null) return s;
    }
    const n = p.conns.length;
    if (n < p.minConns || (n < p.maxConns && r < 0.07)) return this.planAccept(t);
    if (r < 0.14 && n > p.minConns) {
      const s = this.planClose(t);
      if (s !== null) return s;
    }
    if (r > 0.14 && r < 0.18) return this.planOpenFile(t);
    if (r > 0.18 && r < 0.34) return this.planDup(t);
    if (r > 0.34 && r < 0.342) return this.planFork(t);
    return this.planPoll(t);
  }

  private planWorker(t: Task): Step[] | null {
    // Worker threads spend much of their time blocked (futex, disk) where no probe fires.
    if (t.proc.role !== 'child' && this.rng() < 0.55) return null;
    const r = this.rng();
    if (r < 0.45) return this.planOpenFile(t);
    if (r < 0.58) return this.planReaddir(t);
    if (r < 0.72) return this.planCreate(t);
    if (r < 0.86) return this.planUnlink(t);
    return this.planStat(t);
  }

  /** accept()/socket()/pipe(): a new file, installed and registered with the task's epoll. */
  private planAccept(t: Task): Step[] {
    const p = t.proc;
    const c: Conn = { file: this.files.take(), epi: this.epitems.take(), fd: p.fds.take(), dentry: this.anon.take(), pty: -1 };
    p.conns.push(c);
    return [step(R.alloc, { file: c.file }), step(R.fdi, { fd: c.fd, file: c.file }), ...this.register(p, c)];
  }

  private register(p: Proc, c: Conn): Step[] {
    return [
      step(R.ctl, { epfd: p.epfd, op: EPOLL_CTL_ADD, fd: c.fd }),
      step(R.ins, { ep: p.ep, epi: c.epi, file: c.file, fd: c.fd }),
      step(R.ctl_r, { epfd: p.epfd, op: EPOLL_CTL_ADD, fd: c.fd, ret: 0 }),
    ];
  }

  /** close() of a registered file: after EPOLL_CTL_DEL, or with no DEL (__fput reaps the epitem). */
  private planClose(t: Task): Step[] | null {
    const p = t.proc;
    const i = Math.floor(this.rng() * p.conns.length);
    const c = p.conns[i]!;
    if (c.pty >= 0 && this.pts.locked) return null;
    p.conns[i] = p.conns[p.conns.length - 1]!;
    p.conns.pop();
    const giveEpi = (): void => this.epitems.give(c.epi);
    const freed = (): void => {
      this.files.give(c.file);
      if (c.pty < 0) this.anon.give(c.dentry);
      p.fds.give(c.fd);
    };
    const steps: Step[] = [];
    if (this.rng() < 0.5) {
      steps.push(
        step(R.ctl, { epfd: p.epfd, op: EPOLL_CTL_DEL, fd: c.fd }),
        step(R.rm, { ep: p.ep, epi: c.epi, file: c.file, fd: c.fd }, giveEpi),
        step(R.ctl_r, { epfd: p.epfd, op: EPOLL_CTL_DEL, fd: c.fd, ret: 0 }),
        step(R.fdc, { fd: c.fd }),
        step(R.last, { file: c.file }),
        step(R.fput, { file: c.file, count: 0, hasEp: false, dentry: c.dentry }),
        step(R.fput_r, { file: c.file }, freed),
      );
    } else {
      steps.push(
        step(R.fdc, { fd: c.fd }),
        step(R.last, { file: c.file }),
        step(R.fput, { file: c.file, count: 0, hasEp: true, dentry: c.dentry }),
        step(R.rel, { file: c.file }),
        step(R.rm, { ep: p.ep, epi: c.epi, file: c.file, fd: c.fd }, giveEpi),
        step(R.rel_r, { file: c.file }),
        step(R.fput_r, { file: c.file }, freed),
      );
    }
    if (c.pty >= 0) {
      // The pty is gone: devpts_pty_kill() removes its /dev/pts entry, which is then put and killed.
      const pts = this.pts;
      pts.locked = true;
      steps.push(
        step(R.pty_kill, { dentry: c.dentry, parent: pts.addr }),
        step(R.dput, { dentry: c.dentry, parent: pts.addr, count: 1 }),
        step(R.d_kill, { dentry: c.dentry, parent: pts.addr, count: 0 }, () => {
          this.dentries.give(c.dentry);
          this.ptyUsed[c.pty] = false;
          pts.locked = false;
        }),
      );
    }
    return steps;
  }

  /** epoll_wait(): ->poll() of a few ready items. */
  private planPoll(t: Task): Step[] {
    const p = t.proc;
    if (p.conns.length === 0) return this.planAccept(t);
    const rng = this.rng;
    const k = 1 + Math.floor(rng() * rng() * 12);
    const steps: Step[] = [];
    for (let i = 0; i < k; i++) {
      const c = p.conns[Math.floor(rng() * p.conns.length)]!;
      steps.push(step(R.poll, { epi: c.epi, file: c.file, count: rng() < 0.85 ? 1 : 2 }));
    }
    return steps;
  }

  /** dup()/dup2() of a registered file to a spare fd, closed again (the file stays open). */
  private planDup(t: Task): Step[] {
    const p = t.proc;
    if (p.conns.length === 0) return this.planOpenFile(t);
    const c = p.conns[Math.floor(this.rng() * p.conns.length)]!;
    const fd = p.fds.take();
    return [step(R.fdi, { fd, file: c.file }), step(R.fdc, { fd }, () => p.fds.give(fd))];
  }

  /** open(), maybe held in a fanotify permission wait, read, close(). */
  private planOpenFile(t: Task): Step[] {
    const p = t.proc;
    const f = this.files.take();
    const fd = p.fds.take();
    const dentry = this.fileDentries[Math.floor(this.rng() * this.fileDentries.length)]!;
    return [
      step(R.alloc, { file: f }),
      ...(this.rng() < 0.3 ? this.permWait(t) : []),
      step(R.fdi, { fd, file: f }),
      step(R.fdc, { fd }),
      step(R.last, { file: f }),
      step(R.fput, { file: f, count: 0, hasEp: false, dentry }),
      step(R.fput_r, { file: f }, () => {
        this.files.give(f);
        p.fds.give(fd);
      }),
    ];
  }

  /** fsnotify_prepare_user_wait() .. fsnotify_finish_user_wait(): 20 us to 0.8 ms. */
  private permWait(t: Task): Step[] {
    const live = this.liveMarks;
    if (live.length === 0) return [];
    const rng = this.rng;
    const slots: [string, string, string, string] = ['0', '0', '0', '0'];
    const pinned: Mark[] = [];
    const n = rng() < 0.7 ? 1 : 2;
    for (let i = 0; i < n; i++) {
      const m = live[Math.floor(rng() * live.length)]!;
      const slot = Math.floor(rng() * 4);
      if (slots[slot] !== '0' || pinned.includes(m)) continue;
      slots[slot] = m.addr;
      pinned.push(m);
    }
    for (const m of pinned) m.pins++;
    return [
      step(R.pw, { iter: t.iter, marks: slots }, undefined, 20_000 + Math.floor(rng() * 780_000)),
      step(R.pw_r, { iter: t.iter }, () => {
        for (const m of pinned) m.pins--;
      }),
    ];
  }

  /** A listener adds marks, tears unpinned ones down, and puts detached ones to zero later. */
  private planMarks(t: Task): Step[] | null {
    const p = t.proc;
    const rng = this.rng;
    // The final put of a mark detached over a millisecond ago comes first, so they do not pile up.
    const i = this.detached.findIndex((m) => m.group === p.group && this.now - m.detachedAt > 1_000_000);
    if (i >= 0 && rng() < 0.6) {
      const m = this.detached[i]!;
      this.detached.splice(i, 1);
      return [step(R.m_put, { mark: m.addr, count: 1 }, () => this.marks.give(m.addr))];
    }
    const own = this.liveMarks.filter((m) => m.group === p.group);
    if (own.length < 40 && rng() < 0.5) {
      const m: Mark = { addr: this.marks.take(), group: p.group, pins: 0, detachedAt: 0 };
      this.liveMarks.push(m);
      return [step(R.m_add, { mark: m.addr, group: p.group })];
    }
    if (own.length <= 20) return null;
    const m = own[Math.floor(rng() * own.length)]!;
    if (m.pins > 0) return null; // pinned by a permission wait: never torn down under it
    this.liveMarks.splice(this.liveMarks.indexOf(m), 1);
    return [
      step(R.m_detach, { mark: m.addr }),
      step(R.m_put, { mark: m.addr, count: 2 }, () => {
        m.detachedAt = this.now;
        this.detached.push(m);
      }),
    ];
  }

  /** A new pty: its /dev/pts entry is allocated, then the master is installed and registered. */
  private planPtyOpen(t: Task): Step[] | null {
    const p = t.proc;
    const pts = this.pts;
    if (pts.locked || p.conns.length >= p.maxConns) return null;
    pts.locked = true;
    const c: Conn = {
      file: this.files.take(),
      epi: this.epitems.take(),
      fd: p.fds.take(),
      dentry: this.dentries.take(),
      pty: this.takePty(),
    };
    p.conns.push(c);
    return [
      step(R.d_alloc, { dentry: c.dentry, parent: pts.addr, name: String(c.pty) }),
      step(R.alloc, { file: c.file }),
      step(R.fdi, { fd: c.fd, file: c.file }, () => (pts.locked = false)),
      ...this.register(p, c),
    ];
  }

  /** fork(): a short-lived child that does a few things and exits. */
  private planFork(t: Task): Step[] {
    const parent = t.proc;
    const pid = this.nextPid;
    this.nextPid += 2;
    return [
      step(R.fork, { child: pid }, () => {
        const rng = this.rng;
        const comm = CHILD_COMMS[Math.floor(rng() * CHILD_COMMS.length)]!;
        const p: Proc = {
          pid,
          comm,
          role: 'child',
          fds: new FdAlloc(parent.fds),
          ep: '',
          epfd: -1,
          conns: [],
          minConns: 0,
          maxConns: 0,
          group: '',
          todo: 1 + Math.floor(rng() * 6),
        };
        this.newTask(p, pid, true, comm);
      }),
    ];
  }

  private reap(t: Task): void {
    const tasks = this.cpus[t.cpu]!.tasks;
    const i = tasks.indexOf(t);
    tasks[i] = tasks[tasks.length - 1]!;
    tasks.pop();
  }

  /** getdents() loops on a directory; `rm dir/*` style unlinks and a lookup by the same task in between. */
  private planReaddir(t: Task): Step[] | null {
    const rng = this.rng;
    const d = this.dirs[Math.floor(rng() * this.dirs.length)]!;
    if (d.locked) return null;
    d.locked = true;
    const p = t.proc;
    const f = this.files.take();
    const fd = p.fds.take();
    const steps: Step[] = [
      step(R.alloc, { file: f }),
      step(R.fdi, { fd, file: f }),
      step(R.rd, { dir: d.addr, file: f }),
      step(R.rd_r, { dir: d.addr }),
    ];
    if (d.tmp && d.children.length > 0 && rng() < 0.25) {
      const n = 1 + Math.floor(rng() * Math.min(3, d.children.length));
      for (let i = 0; i < n; i++) steps.push(...this.unlink(d, undefined));
    }
    if (d.tmp && d.children.length < d.maxChildren && rng() < 0.2) {
      const c = this.newChild(d);
      steps.push(
        step(R.rd, { dir: d.addr, file: f }),
        step(R.d_alloc, { dentry: c.addr, parent: d.addr, name: c.name }),
        step(R.rd_r, { dir: d.addr }),
      );
    }
    steps.push(
      step(R.rd, { dir: d.addr, file: f }),
      step(R.rd_r, { dir: d.addr }),
      step(R.fdc, { fd }),
      step(R.last, { file: f }),
      step(R.fput, { file: f, count: 0, hasEp: false, dentry: d.addr }),
      step(R.fput_r, { file: f }, () => {
        this.files.give(f);
        p.fds.give(fd);
        d.locked = false;
      }),
    );
    return steps;
  }

  private newChild(d: Dir): Child {
    const c = { addr: this.dentries.take(), name: `${d.prefix}${(d.seq++).toString(36)}` };
    d.children.push(c);
    return c;
  }

  private randomTmpDir(): Dir {
    return this.tmpDirs[Math.floor(this.rng() * this.tmpDirs.length)]!;
  }

  /** creat() of a new file in a tmpfs-like directory, written and closed. */
  private planCreate(t: Task): Step[] | null {
    const d = this.randomTmpDir();
    if (d.locked || d.children.length >= d.maxChildren) return null;
    d.locked = true;
    const p = t.proc;
    const c = this.newChild(d);
    const f = this.files.take();
    const fd = p.fds.take();
    return [
      step(R.d_alloc, { dentry: c.addr, parent: d.addr, name: c.name }),
      step(R.alloc, { file: f }),
      step(R.fdi, { fd, file: f }),
      step(R.fdc, { fd }),
      step(R.last, { file: f }),
      step(R.fput, { file: f, count: 0, hasEp: false, dentry: c.addr }),
      step(R.fput_r, { file: f }, () => {
        this.files.give(f);
        p.fds.give(fd);
        d.locked = false;
      }),
    ];
  }

  /** unlink(): d_delete, the last dput, and the kill. */
  private planUnlink(_t: Task): Step[] | null {
    const d = this.randomTmpDir();
    if (d.locked || d.children.length === 0) return null;
    d.locked = true;
    return this.unlink(d, () => (d.locked = false));
  }

  private unlink(d: Dir, then: (() => void) | undefined): Step[] {
    const i = Math.floor(this.rng() * d.children.length);
    const c = d.children[i]!;
    d.children[i] = d.children[d.children.length - 1]!;
    d.children.pop();
    return [
      step(R.d_del, { dentry: c.addr, parent: d.addr, count: this.rng() < 0.8 ? 1 : 2, name: c.name }),
      step(R.dput, { dentry: c.addr, parent: d.addr, count: 1 }),
      step(R.d_kill, { dentry: c.addr, parent: d.addr, count: 0 }, () => {
        this.dentries.give(c.addr);
        then?.();
      }),
    ];
  }

  /** stat() of a child: a dput that is not the last. */
  private planStat(_t: Task): Step[] | null {
    const d = this.randomTmpDir();
    // A locked directory may hold a child whose d_alloc is not emitted yet, or one being unlinked.
    if (d.locked || d.children.length === 0) return null;
    const c = d.children[Math.floor(this.rng() * d.children.length)]!;
    return [step(R.dput, { dentry: c.addr, parent: d.addr, count: 2 + Math.floor(this.rng() * 2) })];
  }
}

/**
 * Writes a capture of at least `events` records to `path`. Once `events` is reached, the syscalls in
 * flight are completed (no new ones start), so the capture ends quiescent; the returned count is
 * exact.
 */
export async function generateCapture(path: string, events: number, seed: number): Promise<Generated> {
  const sim = new Sim(seed);
  const ws = createWriteStream(path);
  let bytes = 0;
  const write = async (s: string): Promise<void> => {
    bytes += s.length;
    if (!ws.write(s)) await once(ws, 'drain');
  };
  try {
    await write(
      `${serializeHeader({
        format: CAPTURE_FORMAT,
        version: CAPTURE_VERSION,
        created: new Date().toISOString(),
        host: 'bench',
        kernel: '6.1.0-bench-amd64',
        families: { file: 'bench', epoll: 'bench', dcache: 'bench', fsnotify: 'bench', tracefs: 'bench' },
        lifetrace_version: '0.1.0',
      })}\n`,
    );
    let more = true;
    while (more) {
      while (more && sim.outBytes < CHUNK_BYTES) {
        if (!sim.draining && sim.events >= events) sim.draining = true;
        more = sim.emitOne();
      }
      if (!more) sim.flushAll();
      if (sim.outBytes > 0) await write(sim.take());
    }
    ws.end();
    await finished(ws);
  } catch (e) {
    ws.destroy();
    throw e;
  }
  return { events: sim.events, bytes };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [out, n, seed] = process.argv.slice(2);
  const events = Number(n);
  if (out === undefined || !Number.isInteger(events) || events <= 0) {
    process.stderr.write('usage: node dist/test/bench/generate.js OUT EVENTS [SEED]\n');
    process.exit(2);
  }
  const r = await generateCapture(out, events, seed === undefined ? 1 : Number(seed));
  process.stdout.write(`${JSON.stringify({ path: out, ...r })}\n`);
}
