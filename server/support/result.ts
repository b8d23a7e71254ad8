/**
 * The outcome of something that can fail in an expected way (bad input, a refused name, a capture
 * that does not open): returned, never thrown. Bugs and failures the caller cannot act on are thrown.
 */
export type Result<T, E = string> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value });
export const err = <E>(error: E): Result<never, E> => ({ ok: false, error });
