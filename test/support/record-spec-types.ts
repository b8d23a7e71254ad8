/**
 * Compile-time checks of the spec kit (server/decode/spec.ts), run by `npm run typecheck`: each
 * spec below is wrong, and the compiler must say so (an unused @ts-expect-error is an error too).
 */
import { record } from '../../server/decode/spec.js';

export const wrongSpecs = [
  // @ts-expect-error fd is a number: an addr field does not produce it
  record({ tag: 'x', fn: 'f', kind: 'ep.insert', fields: { ep: 'addr', epi: 'addr', file: 'addr', fd: 'addr' } }),
  // @ts-expect-error a field of the event (fd) is missing
  record({ tag: 'x', fn: 'f', kind: 'ep.insert', fields: { ep: 'addr', epi: 'addr', file: 'addr' } }),
  // @ts-expect-error the event has no such property
  record({ tag: 'x', fn: 'f', kind: 'ep.insert', fields: { ep: 'addr', epi: 'addr', file: 'addr', fd: 'int', extra: 'int' } }),
  // @ts-expect-error marks are addresses, not a bitmap
  record({ tag: 'x', fn: 'f', kind: 'perm.wait', fields: { iter: 'addr', marks: 'bits256' } }),
  record({
    tag: 'x',
    fn: 'f',
    kind: 'target.poll',
    // @ts-expect-error fnFrom must name a string field
    fnFrom: 'count',
    fields: { file: 'addr', count: 'int', inside: 'bool', pollFn: 'str' },
  }),
  // @ts-expect-error a name is a string, not an address
  record({ tag: 'x', fn: 'f', kind: 'dentry.alloc', fields: { dentry: 'addr', parent: 'addr', name: 'addr' } }),
];
