/**
 * What every reader of a record tag needs, derived from its RecordSpec (decode/spec.ts) once at
 * load: the field count a line must have, the decoder that builds its event through any
 * RecordFields (text, bytes, packed), and the read plan the decode worker holds a record by.
 *
 * The decoder is compiled from the spec into one function per tag that builds the event as a
 * single object literal, exactly as a hand-written decoder would: on this hot path a generic loop
 * that adds properties one by one (or a spread) costs many times more than the literal, and every
 * event of a kind gets the same shape. It reads the fields in the spec's order, the order of the
 * read plan: the decode worker holds a record's values in that order and this thread's decoder
 * reads them back in the same order (packed/).
 */
import type { Addr, RecordEvent } from '../model/events.js';
import type { RecordFields } from './fields.js';
import { type AnyRecordSpec, FIELD_WIDTH, type FieldShape, isVariadic, widthOf } from './spec.js';

/** Read plan operations: which RecordFields read takes each value (a bool is an int, on both sides). */
export const READ_ADDR = 0;
export const READ_INT = 1;
export const READ_STR = 2;
export const READ_REST = 3;

export interface RecordCodec {
  readonly spec: AnyRecordSpec;
  readonly tag: string;
  readonly kind: RecordEvent['kind'];
  /** Number of printed fields (after the head, before comm); at least that many when `variadic`. */
  readonly width: number;
  readonly variadic: boolean;
  /** The record's event; a field that does not parse sets the reader's error instead of throwing. */
  readonly decode: (r: RecordFields) => RecordEvent;
  /** The reads `decode` makes, in order, as (operation, field) pairs. */
  readonly plan: readonly number[];
}

export function codecOf(spec: AnyRecordSpec): RecordCodec {
  const shapes = Object.entries(spec.fields) as [string, FieldShape][];
  shapes.forEach(([name, shape], k) => {
    if (shape === 'rest' && k !== shapes.length - 1) throw new Error(`record ${spec.tag}: ${name} is a rest field but not the last`);
  });
  if (spec.fnFrom !== undefined && (spec.fields as Record<string, FieldShape>)[spec.fnFrom] !== 'str')
    throw new Error(`record ${spec.tag}: fnFrom ${spec.fnFrom} is not a str field`);
  return {
    spec,
    tag: spec.tag,
    kind: spec.kind,
    width: widthOf(spec),
    variadic: isVariadic(spec),
    decode: compileDecoder(spec, shapes),
    plan: planOf(shapes),
  };
}

function planOf(shapes: readonly [string, FieldShape][]): number[] {
  const plan: number[] = [];
  let i = 0;
  for (const [, shape] of shapes) {
    const op = shape === 'int' || shape === 'bool' ? READ_INT : shape === 'str' ? READ_STR : shape === 'rest' ? READ_REST : READ_ADDR;
    for (let w = 0; w < FIELD_WIDTH[shape]; w++) plan.push(op, i++);
  }
  return plan;
}

/** The read expression of each shape, for its first printed field `i`. */
function readOf(shape: FieldShape, i: number): string {
  switch (shape) {
    case 'addr':
      return `r.addr(${i})`;
    case 'int':
      return `r.int(${i})`;
    case 'bool':
      return `r.bool(${i})`;
    case 'str':
      return `r.str(${i})`;
    case 'rest':
      return `r.str(${i}, true)`;
    case 'addrs4':
      return `addrs4(r.addr(${i}), r.addr(${i + 1}), r.addr(${i + 2}), r.addr(${i + 3}))`;
    case 'bits256':
      return `bits256(r.addr(${i}), r.addr(${i + 1}), r.addr(${i + 2}), r.addr(${i + 3}))`;
  }
}

function compileDecoder(spec: AnyRecordSpec, shapes: readonly [string, FieldShape][]): (r: RecordFields) => RecordEvent {
  const reads: string[] = [];
  const props: string[] = [];
  let i = 0;
  shapes.forEach(([name, shape], k) => {
    reads.push(`const v${k} = ${readOf(shape, i)};`);
    props.push(`${JSON.stringify(name)}: v${k}`);
    i += FIELD_WIDTH[shape];
  });
  const fn = spec.fnFrom === undefined ? JSON.stringify(spec.fn) : `v${shapes.findIndex(([name]) => name === spec.fnFrom)}`;
  const body = `${reads.join('\n')}
    return { t: r.t, cpu: r.cpu, pid: r.pid, tid: r.tid, comm: r.comm, line: r.lineNo, kind: ${JSON.stringify(spec.kind)}, fn: ${fn}${
      props.length > 0 ? `, ${props.join(', ')}` : ''
    } };`;
  // The source is made from the specs alone (tags, names and shapes of this program), never from input.
  const make = new Function('addrs4', 'bits256', `return function decode_${spec.tag.replace(/\W/g, '_')}(r) {\n${body}\n};`);
  return make(addrs4, bits256) as (r: RecordFields) => RecordEvent;
}

/** An empty slot of an `addrs4` field: a NULL pointer. */
const NULL = '0';

function addrs4(a: Addr, b: Addr, c: Addr, d: Addr): Addr[] {
  const out: Addr[] = [];
  if (a !== NULL) out.push(a);
  if (b !== NULL) out.push(b);
  if (c !== NULL) out.push(c);
  if (d !== NULL) out.push(d);
  return out;
}

/** The set bits of four 64-bit words printed in hex, low word first. */
function bits256(...words: Addr[]): number[] {
  const bits: number[] = [];
  for (let w = 0; w < 4; w++) {
    const word = words[w]!;
    // From the last hex digit up: 4 bits per digit.
    for (let d = 0; d < word.length; d++) {
      const v = parseInt(word[word.length - 1 - d]!, 16);
      for (let b = 0; b < 4; b++) if (v & (1 << b)) bits.push(w * 64 + d * 4 + b);
    }
  }
  return bits.sort((a, b) => a - b);
}
