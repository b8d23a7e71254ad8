/**
 * The spec kit: how a family declares its records. One RecordSpec per record tag says everything
 * a record is, and every reader and writer of records is derived from it (decode/codec.ts): the
 * text and byte readers' decoders, the decode worker's read plan (decode/packed/), the field count
 * a line must have, and the bench generator's writer.
 *
 * A record is `tag  nsecs  cpu  pid  tid  <fields, in the spec's order>  comm  [stack]` (see
 * decode/fields.ts). Each field is printed by the probe in one of these shapes, and becomes the
 * event's property of the same name, in the same order, after the Origin fields, `kind` and `fn`:
 *   addr     a kernel address, %lx (lower-case hex, no 0x)       -> Addr
 *   int      a decimal integer, optionally negative              -> number
 *   bool     a decimal integer, 0 or not                         -> boolean
 *   str      a string with no tab                                -> string
 *   rest     the last field: a string that may hold tabs (a name); the record then has at least,
 *            not exactly, its field count, and the extra fields are joined back with tabs -> string
 *   addrs4   four addresses (e.g. iter_info->marks[]), 0 = an empty slot -> Addr[] of the others
 *   bits256  four 64-bit words in hex, low word first: a bitmap -> number[] of its set bits
 * The compiler checks that a spec's fields produce exactly the payload of its `kind`'s event type
 * (model/events.ts): every property, each with a shape that yields its type.
 *
 * This module imports only model/ (a family's spec file imports only this and model/).
 */
import type { Addr, Family, Origin, RecordEvent } from '../model/events.js';

/** How many printed fields each shape takes. */
export const FIELD_WIDTH = { addr: 1, int: 1, bool: 1, str: 1, rest: 1, addrs4: 4, bits256: 4 } as const;
export type FieldShape = keyof typeof FIELD_WIDTH;

/** What each shape decodes to. */
interface Decoded {
  addr: Addr;
  int: number;
  bool: boolean;
  str: string;
  rest: string;
  addrs4: Addr[];
  bits256: number[];
}

/** What a writer of records (the bench generator) gives for each shape. */
type Words = readonly [string, string, string, string];
export interface Written {
  addr: string;
  int: number;
  bool: boolean;
  str: string;
  rest: string;
  addrs4: Words;
  bits256: Words;
}

export type RecordKind = RecordEvent['kind'];
type EventOfKind<K extends RecordKind> = Extract<RecordEvent, { kind: K }>;
/** An event's own properties: what its record's fields give. */
type Payload<K extends RecordKind> = Omit<EventOfKind<K>, keyof Origin | 'kind' | 'fn'>;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** The shapes that decode to exactly V. */
type ShapesFor<V> = { [S in FieldShape]: Same<Decoded[S], V> extends true ? S : never }[FieldShape];

/** A record's fields, by the event property each one becomes, in the order they are printed. */
export type FieldsOf<K extends RecordKind> = { readonly [P in keyof Payload<K>]-?: ShapesFor<Payload<K>[P]> };

/** One record tag of a family: what the probe prints and which event it becomes. */
export interface RecordSpec<K extends RecordKind = RecordKind, T extends string = string> {
  readonly tag: T;
  /** Kernel function (or tracepoint) the record comes from, as evidence shows it. */
  readonly fn: string;
  readonly kind: K;
  readonly fields: FieldsOf<K>;
  /** The event's `fn` is this (string) field's value instead, e.g. the ->poll() a record names. */
  readonly fnFrom?: StringFieldOf<K>;
}

type StringFieldOf<K extends RecordKind> = { [P in keyof FieldsOf<K>]: 'str' extends FieldsOf<K>[P] ? P : never }[keyof FieldsOf<K>] &
  string;

/** Any record spec (a union over the kinds, so that each keeps its own field check). */
export type AnyRecordSpec = { [K in RecordKind]: RecordSpec<K> }[RecordKind];

/** A record spec, checked against its kind's event type (and its tag kept as a literal type). */
export function record<const T extends string, K extends RecordKind>(spec: RecordSpec<K, T>): RecordSpec<K, T> {
  return spec;
}

export interface FamilySpec<R extends readonly AnyRecordSpec[] = readonly AnyRecordSpec[]> {
  readonly family: Family;
  readonly records: R;
}

export function family<const R extends readonly AnyRecordSpec[]>(name: Family, records: R): FamilySpec<R> {
  return { family: name, records };
}

/** What a writer gives for a record's fields, by name. */
export type WrittenFields<S extends AnyRecordSpec> = { readonly [P in keyof S['fields']]: Written[S['fields'][P] & FieldShape] };

/** Number of printed fields of a record (after the head, before comm): the sum of its fields' widths. */
export function widthOf(spec: AnyRecordSpec): number {
  let n = 0;
  for (const shape of Object.values(spec.fields) as FieldShape[]) n += FIELD_WIDTH[shape];
  return n;
}

/** Whether the record's last field may absorb extra fields (a `rest` name that held tabs). */
export function isVariadic(spec: AnyRecordSpec): boolean {
  return (Object.values(spec.fields) as FieldShape[]).includes('rest');
}

/** The separator of printed fields as it stands inside the JSON string. */
const SEP = '\\t';

/**
 * A record's fields as they stand in its JSON line (between tid and comm, separators included, no
 * leading one): the writer derived from the spec, for generated captures.
 */
export function writeFields<S extends AnyRecordSpec>(spec: S, values: WrittenFields<S>): string {
  const out: string[] = [];
  const shapes = spec.fields as Readonly<Record<string, FieldShape>>;
  const vals = values as Readonly<Record<string, Written[FieldShape]>>;
  for (const name in shapes) {
    const v = vals[name]!;
    switch (shapes[name]!) {
      case 'bool':
        out.push(v ? '1' : '0');
        break;
      case 'str':
      case 'rest':
        out.push(JSON.stringify(v).slice(1, -1));
        break;
      case 'addrs4':
      case 'bits256':
        out.push((v as Words).join(SEP));
        break;
      default:
        out.push(String(v));
    }
  }
  return out.join(SEP);
}
