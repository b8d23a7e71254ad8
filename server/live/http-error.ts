/**
 * The one HTTP error (Hono's HTTPException shape): what the API refuses, with its status and why.
 * Whatever throws it (the routes, the capture desk, the library), http.ts's one mapper answers
 * `{"error": message}` with its status and counts it under `reason` (GET /api/server's `rejected`).
 */

export type HttpStatus = 400 | 404 | 409 | 503 | 507;

export class HttpError extends Error {
  constructor(
    readonly status: HttpStatus,
    message: string,
    /** The refusal counter it is counted under. */
    readonly reason = 'refused',
  ) {
    super(message);
  }
}

/** A request that is malformed (a parameter, a body): 400, counted as `bad-request`. */
export const badRequest = (message: string): HttpError => new HttpError(400, message, 'bad-request');
