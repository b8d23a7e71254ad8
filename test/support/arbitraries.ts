/**
 * fast-check arbitraries for the property tests (test/properties.test.ts): captures built from the
 * rule fixtures, and the ways a capture line goes bad. Every corruption here is one the reading
 * rules (docs/capture-format.md) say must become a counted anomaly; the "neutral" edits (blank
 * lines, CR LF) must change nothing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { PRINTF_PREFIX } from '../../server/decode/envelope.js';
import { HEAD } from '../../server/decode/fields.js';
import { ROUTES } from '../../server/decode/routes.js';
import { PROTOCOL_VERSION, type AgentHello } from '../../server/shared/wire.js';
import { traceToCapture } from './trace.js';

export const FIXTURE_DIR = join(import.meta.dirname, '..', 'fixtures', 'rules');

export interface FixtureCapture {
  name: string;
  /** The capture's lines, without their newlines; line i + 1 of the file is lines[i] (lines[0] is the header). */
  lines: string[];
}

export function fixtureCaptures(): FixtureCapture[] {
  return readdirSync(FIXTURE_DIR)
    .filter((f) => f.endsWith('.trace'))
    .sort()
    .map((name) => {
      const text = traceToCapture(readFileSync(join(FIXTURE_DIR, name), 'utf8'));
      return { name, lines: text.slice(0, -1).split('\n') };
    });
}

/** A printf record line as bpftrace spells it, split into its tab-separated fields (as they appear in the JSON: the tab is `\t`). */
export function recordFields(line: string): string[] | undefined {
  if (!line.startsWith(PRINTF_PREFIX) || !line.endsWith('"}')) return undefined;
  return line.slice(PRINTF_PREFIX.length, -2).split('\\t');
}

/** A record line a decoder reads as it is: a known tag with its exact number of fields (fixtures also hold broken ones). */
export function isGoodRecord(line: string): boolean {
  const f = recordFields(line);
  const route = f === undefined ? undefined : ROUTES.get(f[0]!);
  if (f === undefined || route === undefined) return false;
  const want = HEAD + route.codec.width + 1;
  return route.codec.variadic ? f.length >= want : f.length === want;
}

export function recordLine(fields: readonly string[]): string {
  return `${PRINTF_PREFIX}${fields.join('\\t')}"}`;
}

const isRecordTag = (tag: string): boolean => ROUTES.has(tag) || tag === 'ready';

/** Bytes that are not blank once decoded (a blank line is ignored by design, not an anomaly) and hold no newline. */
export const garbageBytes: fc.Arbitrary<Buffer> = fc
  .uint8Array({ minLength: 1, maxLength: 80 })
  .map((b) => Buffer.from(b.map((x) => (x === 10 ? 0x7b : x))))
  .filter((b) => b.toString('utf8').trim() !== '');

/** Digits that no u64 holds (21 or more), for fields the decoder reads as numbers. */
export const hugeNumber: fc.Arbitrary<string> = fc.integer({ min: 21, max: 60 }).map((n) => '9'.repeat(n));

/** What the record at `line` becomes once broken. */
export type Breakage =
  | 'truncated'
  | 'drop-field'
  | 'extra-field'
  | 'huge-number'
  | 'non-hex-address'
  | 'unknown-tag'
  | 'bad-utf8'
  | 'not-json';

/**
 * A broken copy of a good printf record `line` (as bytes, without newline). Each result must be a
 * counted anomaly, never an event. The arbitrary only picks breakages that apply to this line.
 */
export function brokenRecord(line: string): fc.Arbitrary<{ how: Breakage; bytes: Buffer }> {
  const f = recordFields(line)!;
  const tag = f[0]!;
  const route = ROUTES.get(tag)!;
  const ways: fc.Arbitrary<{ how: Breakage; bytes: Buffer }>[] = [];
  const out = (how: Breakage) => (s: string | Buffer) => ({ how, bytes: Buffer.isBuffer(s) ? s : Buffer.from(s) });
  // A line cut anywhere before its closing `"}`.
  ways.push(fc.integer({ min: 1, max: line.length - 2 }).map((n) => out('truncated')(line.slice(0, n))));
  // One field fewer (never a valid count: the line had exactly its count, or a variadic minimum).
  ways.push(fc.integer({ min: 1, max: f.length - 1 }).map((i) => out('drop-field')(recordLine(f.filter((_, k) => k !== i)))));
  if (!route.codec.variadic)
    ways.push(fc.integer({ min: 1, max: f.length - 1 }).map((i) => out('extra-field')(recordLine([...f.slice(0, i), '7', ...f.slice(i)]))));
  // A number no u64 holds in the time, cpu, pid or tid, or in a record field that is a number.
  const numeric = f.map((x, i) => (i >= 1 && i < f.length - 1 && /^-?\d+$/.test(x) ? i : -1)).filter((i) => i >= 0);
  ways.push(
    fc.tuple(fc.constantFrom(...numeric), hugeNumber).map(([i, n]) => out('huge-number')(recordLine(f.map((x, k) => (k === i ? n : x))))),
  );
  // An address that is not lower-case hex (fixture addresses are ffff888...; 0 is NULL and stays).
  const addrs = f.map((x, i) => (i >= 5 && /^ffff888[0-9a-f]+$/.test(x) ? i : -1)).filter((i) => i >= 0);
  if (addrs.length > 0) {
    const bad = fc.constantFrom('ffff888g0001000', 'FFFF888100001000', '0xffff888100001000', '', '-1', 'ffff8881000010001', 'zz');
    ways.push(
      fc.tuple(fc.constantFrom(...addrs), bad).map(([i, a]) => out('non-hex-address')(recordLine(f.map((x, k) => (k === i ? a : x))))),
    );
  }
  // A tag no decoder knows.
  const unknownTag = fc.stringMatching(/^[a-z_]{1,10}$/).filter((t) => !isRecordTag(t));
  ways.push(unknownTag.map((t) => out('unknown-tag')(recordLine([t, ...f.slice(1)]))));
  // Bytes that are not UTF-8 where the JSON structure is (the quote before data, or the closing brace).
  ways.push(
    fc
      .constantFrom(Buffer.from([0xff]), Buffer.from([0xc3]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xfe, 0xff]))
      .chain((junk) =>
        fc.constantFrom(
          Buffer.concat([Buffer.from(line.slice(0, -1)), junk]),
          Buffer.concat([Buffer.from(PRINTF_PREFIX.slice(0, -1)), junk, Buffer.from(line.slice(PRINTF_PREFIX.length))]),
        ),
      )
      .map(out('bad-utf8')),
  );
  // The data not a JSON string any more.
  ways.push(
    fc
      .constantFrom(line.replace(/"}$/, '}'), line.replace('"data": "', '"data": '), `${line}}`, line.replace('{"type"', '{type'))
      .map(out('not-json')),
  );
  return fc.oneof(...ways);
}

/** JSON values that are no count of lost events (not a non-negative integer), including those `Number()` would turn into one. */
export const notACount: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(-1, 1.5, -0.5, 1e300, true, false, '', ' ', '0x10', '1e3', 'lots', [], [7], {}),
  fc.string({ maxLength: 8 }).filter((s) => !/^\d+$/.test(s)),
);

export type Garbage = Breakage | 'random-bytes' | 'json-value' | 'bad-envelope' | 'header-again';

/**
 * A whole line of garbage to insert after the header of `capture` (as bytes, no newline): random
 * bytes, a JSON value that is no bpftrace envelope, a broken copy of one of its records, or its
 * header again. Each must become one counted anomaly on its line.
 */
export function garbageLine(capture: FixtureCapture): fc.Arbitrary<{ how: Garbage; bytes: Buffer }> {
  const records = capture.lines.filter(isGoodRecord);
  const ways: fc.Arbitrary<{ how: Garbage; bytes: Buffer }>[] = [
    garbageBytes.map((bytes) => ({ how: 'random-bytes' as const, bytes })),
    // JSON that is not an object, or an object without a string "type".
    fc
      .jsonValue()
      .filter((v) => typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as Record<string, unknown>).type !== 'string')
      .map((v) => JSON.stringify(v))
      .filter((s) => s.trim() !== '')
      .map((s) => ({ how: 'json-value' as const, bytes: Buffer.from(s) })),
    // Envelopes bpftrace never prints, or prints with the wrong data.
    fc
      .oneof(
        fc
          .stringMatching(/^[a-z_]{1,12}$/)
          .filter(
            (t) => !['printf', 'lost_events', 'attached_probes', 'map', 'errorf', 'warnf', 'helper_error', 'runtime_error'].includes(t),
          )
          .map((t) => JSON.stringify({ type: t, data: {} })),
        fc
          .jsonValue()
          .filter((d) => typeof d !== 'string')
          .map((d) => JSON.stringify({ type: 'printf', data: d })),
        fc.constantFrom(
          '{"type": "lost_events", "data": {}}',
          '{"type": "lost_events", "data": {"events": "lots"}}',
          '{"type": "lost_events", "data": {"events": -1}}',
        ),
        fc.constant('{"type": "map", "data": {}}'),
      )
      .map((s) => ({ how: 'bad-envelope' as const, bytes: Buffer.from(s) })),
    fc.constant({ how: 'header-again' as const, bytes: Buffer.from(capture.lines[0]!) }),
  ];
  if (records.length > 0) ways.push(fc.constantFrom(...records).chain(brokenRecord));
  return fc.oneof(...ways);
}

/** A line that must change nothing: empty, or white space (bpftrace prints blank lines at exit). */
export const blankLine: fc.Arbitrary<Buffer> = fc.constantFrom('', ' ', '\t', '  \t ', '\r').map((s) => Buffer.from(s));

/** Chunk sizes for pushing a capture in pieces (cycled), including 1-byte chunks. */
export const chunkSizes: fc.Arbitrary<number[]> = fc.array(fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 4096 })), {
  minLength: 1,
  maxLength: 20,
});

const NAME_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-';
const RULE_ID_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789._-';
// Never '..' (a name never holds one: server/live/names.ts).
const shortName = fc.string({ unit: fc.constantFrom(...NAME_CHARS), minLength: 1, maxLength: 40 }).map((s) => s.replace(/\.(?=\.)/g, '_'));

/** A hello the server must accept (host names from `prefix` so that runs do not collide with other hosts). */
export function validHello(prefix: string): fc.Arbitrary<AgentHello> {
  return fc.record(
    {
      type: fc.constant('hello' as const),
      protocol: fc.constant(PROTOCOL_VERSION),
      run: shortName.map((s) => `r${s}`), // a name starts with a letter or digit
      host: shortName.map((s) => `${prefix}${s}`.slice(0, 128)),
      mode: fc.constantFrom('live' as const, 'replay' as const),
      label: fc.option(fc.string({ maxLength: 512 }), { nil: undefined }),
      header: fc.oneof(
        fc.dictionary(
          fc.string({ maxLength: 10 }).filter((k) => k !== 'families'),
          fc.jsonValue({ maxDepth: 2 }),
          { maxKeys: 5 },
        ),
        // A real capture header, with the fields the pipeline acts on set to anything.
        fc.record(
          {
            format: fc.constant('lifetrace-capture'),
            version: fc.constantFrom(1, 0, -1, 1.5),
            families: fc.dictionary(
              fc.string({ unit: fc.constantFrom(...RULE_ID_CHARS), minLength: 1, maxLength: 8 }),
              fc.string({ maxLength: 8 }),
              { maxKeys: 8 },
            ),
            cpus: fc.oneof(fc.integer(), fc.double(), fc.constant(1e9), fc.string()),
            deferred_ms: fc.oneof(fc.integer(), fc.double(), fc.constant(1e300)),
          },
          { requiredKeys: ['format', 'version', 'families'] },
        ),
      ) as fc.Arbitrary<Record<string, unknown>>,
      rules: fc.array(
        fc.record({
          id: fc.string({ unit: fc.constantFrom(...RULE_ID_CHARS), minLength: 1, maxLength: 64 }),
          status: fc.constantFrom('active' as const, 'degraded' as const, 'off' as const),
        }),
        { maxLength: 5 },
      ),
    },
    { requiredKeys: ['type', 'protocol', 'run', 'host', 'mode', 'header', 'rules'] },
  );
}
