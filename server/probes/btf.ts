/**
 * A minimal reader of the kernel's BTF (/sys/kernel/btf/vmlinux): enough to ask whether a struct
 * has a field path (f_count vs f_ref, d_subdirs vs d_children) and what a function's parameters
 * are called. Probe scripts are adapted from these answers, never from the version number.
 *
 * Format: include/uapi/linux/btf.h. A header, then type records (id 1, 2, ...), then strings.
 */
import { readFile } from 'node:fs/promises';

const KIND = {
  INT: 1,
  PTR: 2,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  FWD: 7,
  TYPEDEF: 8,
  VOLATILE: 9,
  CONST: 10,
  RESTRICT: 11,
  FUNC: 12,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  FLOAT: 16,
  DECL_TAG: 17,
  TYPE_TAG: 18,
  ENUM64: 19,
} as const;

interface Member {
  name: string;
  type: number;
}

interface BtfType {
  kind: number;
  name: string;
  /** Referenced type (pointers, typedefs, modifiers, FUNC -> FUNC_PROTO, arrays). */
  type: number;
  members: Member[];
}

export class Btf {
  private readonly types: BtfType[] = [{ kind: 0, name: 'void', type: 0, members: [] }];
  private readonly byName = new Map<string, number[]>();

  constructor(buf: Buffer) {
    if (buf.length < 24 || buf.readUInt16LE(0) !== 0xeb9f) throw new Error('not a little-endian BTF blob');
    const hdrLen = buf.readUInt32LE(4);
    const typeOff = hdrLen + buf.readUInt32LE(8);
    const typeLen = buf.readUInt32LE(12);
    const strOff = hdrLen + buf.readUInt32LE(16);
    const str = (off: number): string => {
      const start = strOff + off;
      const end = buf.indexOf(0, start);
      return buf.toString('latin1', start, end);
    };
    let p = typeOff;
    const end = typeOff + typeLen;
    while (p < end) {
      const name = str(buf.readUInt32LE(p));
      const info = buf.readUInt32LE(p + 4);
      const sizeOrType = buf.readUInt32LE(p + 8);
      const kind = (info >>> 24) & 0x1f;
      const vlen = info & 0xffff;
      p += 12;
      const t: BtfType = { kind, name, type: sizeOrType, members: [] };
      switch (kind) {
        case KIND.INT:
        case KIND.VAR:
        case KIND.DECL_TAG:
          p += 4;
          break;
        case KIND.ARRAY:
          t.type = buf.readUInt32LE(p);
          p += 12;
          break;
        case KIND.STRUCT:
        case KIND.UNION:
          for (let i = 0; i < vlen; i++, p += 12) t.members.push({ name: str(buf.readUInt32LE(p)), type: buf.readUInt32LE(p + 4) });
          break;
        case KIND.ENUM:
          p += 8 * vlen;
          break;
        case KIND.FUNC_PROTO:
          for (let i = 0; i < vlen; i++, p += 8) t.members.push({ name: str(buf.readUInt32LE(p)), type: buf.readUInt32LE(p + 4) });
          break;
        case KIND.DATASEC:
        case KIND.ENUM64:
          p += 12 * vlen;
          break;
        default:
          break;
      }
      const id = this.types.length;
      this.types.push(t);
      if (name !== '') {
        const ids = this.byName.get(name);
        if (ids) ids.push(id);
        else this.byName.set(name, [id]);
      }
    }
  }

  static async load(path = '/sys/kernel/btf/vmlinux'): Promise<Btf> {
    return new Btf(await readFile(path));
  }

  /** Does `struct name` have the dotted field path (anonymous unions and structs are looked through)? */
  hasField(struct: string, path: string): boolean {
    const id = this.find(struct, KIND.STRUCT) ?? this.find(struct, KIND.UNION);
    if (id === undefined) return false;
    let cur: number | undefined = id;
    for (const part of path.split('.')) {
      cur = cur === undefined ? undefined : this.member(this.resolve(cur), part);
      if (cur === undefined) return false;
    }
    return true;
  }

  /** Parameter names of a function, or undefined when BTF has no such function. */
  params(fn: string): string[] | undefined {
    const id = this.find(fn, KIND.FUNC);
    if (id === undefined) return undefined;
    const proto = this.types[this.types[id]!.type];
    return proto?.members.map((m) => m.name);
  }

  private find(name: string, kind: number): number | undefined {
    return this.byName.get(name)?.find((id) => this.types[id]!.kind === kind);
  }

  /** Follows typedefs and modifiers to the underlying type. */
  private resolve(id: number): number {
    for (let i = 0; i < 32; i++) {
      const t = this.types[id]!;
      if (
        t.kind === KIND.TYPEDEF ||
        t.kind === KIND.CONST ||
        t.kind === KIND.VOLATILE ||
        t.kind === KIND.RESTRICT ||
        t.kind === KIND.TYPE_TAG
      )
        id = t.type;
      else return id;
    }
    return id;
  }

  private member(id: number, name: string): number | undefined {
    const t = this.types[id]!;
    if (t.kind !== KIND.STRUCT && t.kind !== KIND.UNION) return undefined;
    for (const m of t.members) {
      if (m.name === name) return m.type;
      if (m.name === '') {
        const inner = this.member(this.resolve(m.type), name);
        if (inner !== undefined) return inner;
      }
    }
    return undefined;
  }
}
