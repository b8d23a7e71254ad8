/** What the hub and its desk refuse: a module of its own, so that the library, the desk and the hub need not import each other. */

/** A request the hub refuses, with why (the HTTP layer answers 400, 404, 409, or 507 when the disk is full). */
export class HubRefusal extends Error {
  constructor(
    readonly status: 400 | 404 | 409 | 507,
    message: string,
  ) {
    super(message);
  }
}
