/** The arguments the tracing commands share (capture, probes, agent): --families, and --kernel with --modules for --vm. */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { FAMILIES, type Family } from '../model/events.js';
import { err, ok, type Result } from '../support/result.js';
import { GUEST_KERNELS, type GuestKernel } from '../vm/kernels.js';

/** undefined: let the kernel decide (the kprobe families, or the tracepoint fallback). */
export function parseFamilies(v: string | undefined): Result<Family[] | undefined> {
  if (v === undefined) return ok(undefined);
  const fs = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = fs.filter((f) => !(FAMILIES as readonly string[]).includes(f));
  if (bad.length > 0 || fs.length === 0) return err(`unknown probe family ${bad.join(', ') || '(none)'}; families: ${FAMILIES.join(', ')}`);
  return ok(fs as Family[]);
}

/**
 * --kernel 6.1|6.12 (a stock Debian kernel, default 6.1) or --kernel PATH (any bzImage, e.g. a bug
 * kernel from 'lifetrace kernel build'), with --modules DIR when that kernel has modules.
 */
export function parseKernel(v: string | undefined, modules?: string | undefined): Result<GuestKernel> {
  if (v === undefined || (GUEST_KERNELS as readonly string[]).includes(v)) {
    if (modules !== undefined) return err('--modules goes with --kernel PATH (stock kernels bring their own)');
    return ok((v ?? '6.1') as GuestKernel);
  }
  if (!v.includes('/') && !existsSync(v))
    return err(`--kernel takes ${GUEST_KERNELS.join(' or ')} or the path of a kernel image, got ${JSON.stringify(v)}`);
  if (!existsSync(v)) return err(`--kernel: no kernel image at ${v}`);
  if (modules !== undefined && !existsSync(modules)) return err(`--modules: no folder at ${modules}`);
  return ok({ image: resolve(v), modules: modules === undefined ? undefined : resolve(modules) });
}
