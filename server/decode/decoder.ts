/**
 * The dispatcher: capture lines in, typed events out. It reads the header, routes each printf
 * record by its tag to its family's decoder, and reports losses, diagnostics and anomalies.
 */
import { type CaptureHeader, checkHeader, looksLikeHeader, parseHeader } from '../capture/header.js';
import type { Family, RecordEvent } from '../model/events.js';
import { TimeBase, type Nanos } from '../model/time.js';
import { MAX_LINE_BYTES } from '../capture/lines.js';
import { AnomalyLog, type Anomaly, type AnomalyKind } from './anomalies.js';
import { ByteFields } from './byte-fields.js';
import { parseEnvelope, PRINTF_PREFIX } from './envelope.js';
import { Fields, HEAD, plausibleOrigin } from './fields.js';
import { readPlainHead } from './plain.js';
import { ROUTES } from './routes.js';
import { StackTable } from './stacks.js';
import type { Result } from '../support/result.js';

/** Every family's record specs; the name agent/ and the tests know them by. */
export { FAMILY_SPECS as FAMILY_DECODERS } from './routes.js';

export interface DecodeSink {
  event(ev: RecordEvent): void;
  /** bpftrace dropped `count` events somewhere before this line. */
  lost(count: number, line: number): void;
  /** The probes were not running from `from` to `to` (an agent restarted bpftrace): events are missing. */
  gap?(from: Nanos, to: Nanos, reason: string, line: number): void;
  /** The capture header, before any event. */
  header?(h: CaptureHeader): void;
}

export interface StreamInfo {
  header: CaptureHeader | undefined;
  attachedProbes: number;
  diagnostics: { level: string; message: string; line: number }[];
  /** In-kernel counters and aggregates bpftrace printed at exit (e.g. @dput_calls). */
  maps: Record<string, unknown>;
  records: Record<Family, number>;
  lines: number;
}

/** What a decoder learned of a stream, for a report made in another thread (see adopt). */
export interface StreamSummary {
  info: StreamInfo;
  anomalyCounts: Map<AnomalyKind, number>;
  anomalies: Anomaly[];
  /** TimeBase.seconds. */
  timeBase: number;
}

export class CaptureDecoder {
  readonly time = new TimeBase();
  readonly anomalies = new AnomalyLog();
  readonly info: StreamInfo = {
    header: undefined,
    attachedProbes: 0,
    diagnostics: [],
    maps: {},
    records: { file: 0, epoll: 0, dcache: 0, fsnotify: 0, tracefs: 0, syscalls: 0 },
    lines: 0,
  };
  private readonly fields = new Fields();
  private readonly bytes = new ByteFields();
  /** Kernel stacks of the records, shared (also read by the decode worker's holding path). */
  readonly stacks = new StackTable();
  private seenFirst = false;

  constructor(private readonly sink: DecodeSink) {}

  /**
   * A line as bytes [start, end) of `buf`. A plain printf record is decoded from the bytes; any
   * other line (and any record the fast path does not accept) goes to `line` as text.
   */
  lineBytes(buf: Buffer, start: number, end: number, lineNo: number): void {
    this.info.lines = lineNo;
    if (this.seenFirst && this.fastRecord(buf, start, end, lineNo)) return;
    this.line(buf.toString('utf8', start, end), lineNo);
  }

  line(text: string, lineNo: number): void {
    this.info.lines = lineNo;
    if (!this.seenFirst) {
      this.seenFirst = true;
      if (looksLikeHeader(text)) return this.takeHeader(parseHeader(text), lineNo, text);
      this.anomalies.add('no-header', lineNo, 'no capture header: reading as raw bpftrace -f json output');
    }
    const end = text.length - 2;
    if (text.startsWith(PRINTF_PREFIX) && text.charCodeAt(end) === 34 /* " */ && text.charCodeAt(end + 1) === 125 /* } */) {
      return this.record(text, PRINTF_PREFIX.length, end, lineNo);
    }
    if (text.length === 0 || text.trim() === '') return; // bpftrace prints blank lines at exit
    const env = parseEnvelope(text);
    switch (env.type) {
      case 'printf': {
        // Valid JSON in another spelling: respell it and take the fast path.
        const respelled = `${PRINTF_PREFIX + JSON.stringify(env.data).slice(1, -1)}"}`;
        return this.record(respelled, PRINTF_PREFIX.length, respelled.length - 2, lineNo);
      }
      case 'lost':
        return this.sink.lost(env.count, lineNo);
      case 'gap': {
        const from = this.time.parse(env.from);
        const to = this.time.parse(env.to);
        if (!(from <= to)) return this.anomalies.add('bad-envelope', lineNo, 'lifetrace_gap ends before it starts', text);
        return this.sink.gap?.(from, to, env.reason, lineNo);
      }
      case 'longline':
        return this.anomalies.add(
          'long-line',
          lineNo,
          `a line of ${env.bytes} bytes, longer than any record (limit ${MAX_LINE_BYTES}): skipped by the agent`,
        );
      case 'attached':
        this.info.attachedProbes += env.probes;
        return;
      case 'map':
        this.info.maps[env.name] = env.value;
        return;
      case 'diagnostic':
        if (this.info.diagnostics.length < 200) this.info.diagnostics.push({ level: env.level, message: env.message, line: lineNo });
        return;
      case 'other':
        return this.anomalies.add('bad-envelope', lineNo, `unknown bpftrace output type "${env.jsonType}"`, text);
      case 'bad':
        return this.anomalies.add(env.json ? 'bad-envelope' : 'malformed-json', lineNo, env.reason, text);
    }
  }

  /**
   * The capture header as a value, in place of the first line (`lineNo`): a live agent's hello
   * carries it parsed, and it is not turned back into text to be parsed again. Checked as a header
   * line is (a bad one is the same bad-header anomaly).
   */
  header(h: unknown, lineNo: number): void {
    this.info.lines = lineNo;
    this.seenFirst = true;
    const checked = checkHeader(h);
    this.takeHeader(checked, lineNo, checked.ok ? '' : (JSON.stringify(h) ?? String(h)));
  }

  private takeHeader(h: Result<CaptureHeader>, lineNo: number, text: string): void {
    if (h.ok) {
      this.info.header = h.value;
      this.sink.header?.(h.value);
    } else this.anomalies.add('bad-header', lineNo, h.error, text);
  }

  /**
   * `record` on bytes, for records it can decode with no anomaly; false (and no effect but on the
   * TimeBase, which `record` then has the same way) for everything else.
   */
  private fastRecord(buf: Buffer, start: number, end: number, lineNo: number): boolean {
    const r = this.bytes;
    const route = readPlainHead(r, buf, start, end);
    if (route === undefined) return false;
    r.t = this.time.fromParts(r.sec, r.ns);
    r.lineNo = lineNo;
    r.comm = r.text(r.n - 1);
    const ev = route.codec.decode(r);
    if (r.error !== null) return false;
    if (r.stackFrom >= 0) {
      const stack = this.stacks.ofBytes(buf, r.stackFrom, r.stackTo);
      if (stack === undefined) return false; // the text path counts it
      ev.stack = stack;
    }
    this.info.records[route.family]++;
    this.sink.event(ev);
    return true;
  }

  summary(): StreamSummary {
    return { info: this.info, anomalyCounts: this.anomalies.counts, anomalies: this.anomalies.examples, timeBase: this.time.seconds };
  }

  /** Takes over what another decoder (the decode worker's) learned of the stream, in place of its own. */
  adopt(s: StreamSummary): void {
    Object.assign(this.info, s.info);
    this.anomalies.adopt(s.anomalyCounts, s.anomalies);
    this.time.adopt(s.timeBase);
  }

  /** A line past MAX_LINE_BYTES, skipped by the line splitter without being read. */
  longLine(lineNo: number, bytes: number): void {
    this.info.lines = lineNo;
    this.anomalies.add('long-line', lineNo, `a line of ${bytes} bytes, longer than any record (limit ${MAX_LINE_BYTES}): skipped`);
  }

  /** Call when the input ended; `truncated` is the last line if it had no newline. */
  end(truncated: { line: string; lineNo: number } | undefined): void {
    if (truncated === undefined) return;
    // The line was already decoded (and counted if broken); say plainly that the capture was cut.
    this.anomalies.add(
      'truncated-line',
      truncated.lineNo,
      'the capture ends without a newline: its last line is truncated',
      truncated.line,
    );
  }

  private record(text: string, from: number, to: number, lineNo: number): void {
    const r = this.fields;
    if (!r.split(text, from, to)) return this.anomalies.add('bad-record', lineNo, 'too many fields', text);
    const tag = text.slice(r.start[0], r.end[0]);
    if (tag === 'ready') return; // common.bt's BEGIN: every probe is attached from here on
    const route = ROUTES.get(tag);
    if (route === undefined) {
      return this.anomalies.add('unknown-record', lineNo, `unknown record tag ${JSON.stringify(tag)}`, text);
    }
    const { codec } = route;
    const want = HEAD + codec.width + 1;
    if (codec.variadic ? r.n < want : r.n !== want) {
      return this.anomalies.add('bad-record', lineNo, `${tag}: expected ${want} fields, got ${r.n}`, text);
    }
    const t = this.time.parse(text, r.start[1]!, r.end[1]!);
    r.cpu = r.number(2);
    r.pid = r.number(3);
    r.tid = r.number(4);
    if (Number.isNaN(t) || !plausibleOrigin(r.cpu, r.pid, r.tid)) {
      return this.anomalies.add('bad-record', lineNo, `${tag}: bad time, cpu, pid or tid`, text);
    }
    r.t = t;
    r.lineNo = lineNo;
    r.comm = r.text(r.n - 1);
    const ev = codec.decode(r);
    if (r.error !== null) return this.anomalies.add('bad-record', lineNo, `${tag}: ${r.error}`, text);
    if (r.stackFrom >= 0) {
      const stack = this.stacks.of(text.slice(r.stackFrom, r.stackTo));
      if (stack === undefined) this.anomalies.add('bad-stack', lineNo, `${tag}: the stack field is not a kernel stack`, text);
      else ev.stack = stack;
    }
    this.info.records[route.family]++;
    this.sink.event(ev);
  }
}
