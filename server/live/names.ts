/**
 * Names that become paths: hosts and runs (the journal's DATA/journal/HOST/RUN.*), captures and
 * uploads (DATA/captures/NAME). Every name from outside goes through `checkName` before it is used,
 * and every path made of one through `pathIn`: a name starts with a letter or digit (so `.`, `..`,
 * a hidden file or an option-like `-x` cannot be one), never contains `..` or a separator, and the
 * path it makes stays inside its folder. No name, however crafted, reaches another file.
 */
import { resolve, sep } from 'node:path';
import { CAPTURE_NAME } from '../shared/capture-name.js';

export type NameKind = 'host' | 'run' | 'capture';

const PATTERNS: Record<NameKind, { re: RegExp; says: string }> = {
  host: { re: /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, says: 'a host name is a letter or digit, then letters, digits, . _ : - (up to 128)' },
  run: { re: /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, says: 'a run name is a letter or digit, then letters, digits, . _ : - (up to 128)' },
  capture: CAPTURE_NAME,
};

/** A name refused before it became a path. */
export class NameError extends Error {}

/** Why `name` is not a `kind` name, or undefined when it is one. */
export function nameProblem(kind: NameKind, name: unknown): string | undefined {
  if (typeof name !== 'string' || !PATTERNS[kind].re.test(name) || name.includes('..')) return PATTERNS[kind].says;
  return undefined;
}

/** `name`, checked (a NameError otherwise). */
export function checkName(kind: NameKind, name: unknown): string {
  const why = nameProblem(kind, name);
  if (why !== undefined) throw new NameError(why);
  return name as string;
}

/** The path of a checked `kind` name inside `dir` (+ `suffix`); a NameError if it would leave it. */
export function pathIn(dir: string, kind: NameKind, name: unknown, suffix = ''): string {
  const base = resolve(dir);
  const p = resolve(base, checkName(kind, name) + suffix);
  if (!p.startsWith(base + sep) || p.slice(base.length + 1).includes(sep))
    throw new NameError(`a ${kind} name must stay inside its folder`);
  return p;
}
