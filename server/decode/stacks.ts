/**
 * Kernel stacks on records. The script generator (probes/scripts.ts, withStacks) ends every record
 * of the kprobe families with one more field after comm: a newline, then bpftrace's kstack text
 * (a newline and one indented `function+offset` line per frame, innermost first; nothing when the
 * stack could not be read), with `return` between the two in the records of a kretprobe. In the JSON line the field starts with the escape `\n`, which no other
 * field does: the line decoders (Fields, ByteFields) take it off there, before any record decoder
 * runs, and the event gets it as `stack`.
 *
 * Many records share a stack (a probe point is reached by a handful of paths): a StackTable gives
 * equal stacks one frozen array, so an event's stack costs a pointer.
 */
import type { KernelStack } from '../model/events.js';
import { ByteStrings } from './byte-strings.js';
import { hashBytes } from './byte-fields.js';

/** A stack field's raw text (JSON escapes kept) starts with this; `\n` alone: no stack. */
export const STACK_MARK = '\\n';
/** After the mark in the records of a kretprobe: the stack is the one at the return. */
const RETURN = 'return';
/** Distinct stacks kept for sharing; past that, stacks are still decoded, only not shared. */
const MAX_INTERNED = 1 << 16;
/** More frames than any depth the generator asks for: a longer field is not a kstack. */
const MAX_FRAMES = 128;
/** A symbolized frame as bpftrace prints it (`do_epoll_ctl+123`, `ep_item_poll.isra.0+5`, or a bare address). */
const FRAME = /^ *([!-[\]-~]+)$/;

export class StackTable {
  private readonly byText = new Map<string, KernelStack>();
  private readonly raws = new ByteStrings(10);

  /** The stack of a stack field as it stands in the JSON line; undefined when it is not a kstack. */
  of(raw: string): KernelStack | undefined {
    const known = this.byText.get(raw);
    if (known !== undefined) return known;
    const stack = parseStack(raw);
    if (stack !== undefined && this.byText.size < MAX_INTERNED) this.byText.set(raw, stack);
    return stack;
  }

  /** `of` on ASCII bytes [from, to) of `buf` (the fast path): no string is made for a stack seen before. */
  ofBytes(buf: Buffer, from: number, to: number): KernelStack | undefined {
    return this.of(this.raws.lookup(buf, from, to, hashBytes(buf, from, to)));
  }

  /** A stack that came from elsewhere (another thread's copy): the shared one equal to it. */
  share(stack: KernelStack): KernelStack {
    return this.of(rawOf(stack)) ?? stack;
  }
}

/** The stack of a raw stack field, or undefined when it is not one. */
export function parseStack(raw: string): KernelStack | undefined {
  if (!raw.startsWith(STACK_MARK)) return undefined;
  let at = STACK_MARK.length;
  const atReturn = raw.startsWith(RETURN, at);
  if (atReturn) at += RETURN.length;
  if (at === raw.length) return Object.freeze({ frames: Object.freeze([]), atReturn });
  const lines = raw.slice(at).split(STACK_MARK);
  // kstack text: "\n", a line per frame, each ending in "\n": empty first and last pieces.
  if (lines.length < 3 || lines.length > MAX_FRAMES + 2 || lines[0] !== '' || lines[lines.length - 1] !== '') return undefined;
  const frames: string[] = [];
  for (let i = 1; i < lines.length - 1; i++) {
    const m = FRAME.exec(lines[i]!);
    if (m === null) return undefined;
    frames.push(m[1]!);
  }
  return Object.freeze({ frames: Object.freeze(frames), atReturn });
}

/** The raw field of a stack (as the generator's records carry it). */
export function rawOf(stack: KernelStack): string {
  const head = STACK_MARK + (stack.atReturn ? RETURN : '');
  if (stack.frames.length === 0) return head;
  return head + STACK_MARK + stack.frames.map((f) => `        ${f}${STACK_MARK}`).join('');
}
