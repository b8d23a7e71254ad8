/**
 * Where an agent's lines come from: the probes on this kernel (bpftrace-source.ts), the probes on a
 * kernel in a QEMU guest (vm-source.ts), or a capture file replayed as if it were live
 * (replay-source.ts). Either way the lines are the capture format's raw lines, sent on untouched.
 */
import type { CaptureHeader } from '../capture/header.js';
import { ruleCoverage } from '../analyze/coverage.js';
import { FAMILY_DECODERS } from '../decode/decoder.js';
import type { Family } from '../model/events.js';
import type { RuleState, StreamMode } from '../shared/wire.js';

export interface SourceInfo {
  header: CaptureHeader;
  mode: StreamMode;
  label?: string;
  rules: { id: string; status: RuleState }[];
}

/**
 * One raw line without its newline: its bytes, as read (bpftrace's output file, a guest's capture, a
 * replayed file: sent on exactly as they are; the buffer need only stay valid during the call), or
 * the text of a record the agent writes itself (a gap, a lost or too-long line).
 */
export type Line = Uint8Array | string;

/** Resolves when more lines may be produced (flow control; only a replay can wait). */
export type Backpressure = () => Promise<void> | undefined;

export interface LineSource {
  readonly info: SourceInfo;
  /** Produces lines until the source ends or stop() is called; resolves with why it ended. */
  run(onLine: (line: Line) => void, wait: Backpressure): Promise<string>;
  stop(): void;
}

/** The rules that can run on the records these tags name. */
export const rulesFor = (tags: ReadonlySet<string>): SourceInfo['rules'] => ruleCoverage(tags).map((r) => ({ id: r.id, status: r.status }));

/** The record tags of the families a capture header lists (for a replayed or guest capture). */
export function tagsOfFamilies(families: readonly Family[]): Set<string> {
  return new Set(FAMILY_DECODERS.filter((d) => families.includes(d.family)).flatMap((d) => d.records.map((r) => r.tag)));
}
