/**
 * Argument parsing shared by the subcommands: node's parseArgs, with errors a user can act on. A
 * command's expected failures (a bad flag, a missing file, a guest that cannot start, a machine that
 * cannot trace) are Result errors (a Failure), which main prints and maps to an exit status. Bugs are thrown.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { err, ok, type Result } from '../support/result.js';

/** What a command prints on standard output (main passes process.stdout; tests capture it). */
export type Print = (s: string) => void;

/**
 * Why a command could not do its job: a message about what the user gave (a flag, a file, a guest
 * that cannot be set up), or about this machine, which cannot trace (not root, no tracefs, no probe
 * of the families attaches, bpftrace fails before attaching). main maps each to its exit status.
 */
export type Failure = string | CannotTrace;

export interface CannotTrace {
  readonly cannotTrace: string;
}

export const cannotTrace = (message: string): CannotTrace => ({ cannotTrace: message });

/**
 * The exit status of `capture` and `agent` on a machine that cannot trace: the command did not
 * run, and nothing the user typed was wrong. 77 is how automake and other test harnesses mark a
 * skipped test (and sysexits' EX_NOPERM): `capture -- make check` on a machine without tracing is
 * a test that could not run, not one that failed.
 */
export const CANNOT_TRACE_STATUS = 77;

/** A command's outcome: its exit status, or why it could not do its job (main says so, see Failure). */
export type CommandResult = Result<number, Failure>;

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
