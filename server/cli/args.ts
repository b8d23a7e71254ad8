/**
 * Argument parsing shared by the subcommands: node's parseArgs, with errors a user can act on. A
 * command's expected failures (a bad flag, a missing file, a guest that cannot start...) are Result
 * errors: a message for the user, which main prints, exiting 2. Bugs are thrown.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { err, ok, type Result } from '../support/result.js';

/** What a command prints on standard output (main passes process.stdout; tests capture it). */
export type Print = (s: string) => void;

/** A command's outcome: its exit status, or why it could not do its job (main says so and exits 2). */
export type CommandResult = Result<number>;

/**
 * A usage error thrown by a command that does not return a Result yet (`agent`); main maps it as it
 * maps a Result's error. `orThrow` is that command's bridge to the helpers here.
 */
export class UsageError extends Error {}

export function orThrow<T>(r: Result<T>): T {
  if (!r.ok) throw new UsageError(r.error);
  return r.value;
}

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, usage: string) {
  try {
    return ok(parseArgs({ args: argv, options, allowPositionals: true, strict: true }));
  } catch (e) {
    return err(`${(e as Error).message}\n\n${usage}`);
  }
}

export function positiveNumber(name: string, v: string | undefined, fallback: number): Result<number> {
  if (v === undefined) return ok(fallback);
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) return err(`--${name} needs a non-negative number, got ${JSON.stringify(v)}`);
  return ok(n);
}
