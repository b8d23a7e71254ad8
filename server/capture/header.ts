/**
 * Capture format, version 1 (docs/capture-format.md): one header line, then the raw bpftrace
 * `-f json` lines exactly as emitted. Storing raw lines means a decoder fix also fixes old captures.
 */
import type { Family } from '../model/events.js';
import { err, ok, type Result } from '../support/result.js';

export const CAPTURE_FORMAT = 'lifetrace-capture';
export const CAPTURE_VERSION = 1;

export interface CaptureHeader {
  format: typeof CAPTURE_FORMAT;
  version: number;
  /** ISO-8601 wall-clock time the capture started. */
  created: string;
  host: string;
  /** `uname -r` of the traced kernel (the guest's under --vm). */
  kernel: string;
  /** Probe families recorded, each with the sha256 of the exact script that ran. */
  families: Partial<Record<Family, string>>;
  lifetrace_version: string;
  /** Free-form extras (stress preset, command, probe resolution); readers ignore what they do not know. */
  [extra: string]: unknown;
}

export function serializeHeader(h: CaptureHeader): string {
  return JSON.stringify(h);
}

/** True when a line looks like a capture header; cheap enough for every first line. */
export function looksLikeHeader(line: string): boolean {
  return line.startsWith('{"format"') || line.startsWith('{ "format"');
}

/** A header line read: the header, or why it is not one this lifetrace reads. */
export function parseHeader(line: string): Result<CaptureHeader> {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return err('header line is not valid JSON');
  }
  return checkHeader(v);
}

/** Whether a parsed value (a header line's JSON, or the header an agent's hello carries) is a capture header this lifetrace reads. */
export function checkHeader(v: unknown): Result<CaptureHeader> {
  if (typeof v !== 'object' || v === null) return err('header is not an object');
  const h = v as Record<string, unknown>;
  if (h.format !== CAPTURE_FORMAT) return err(`unknown format ${JSON.stringify(h.format)}`);
  if (typeof h.version !== 'number' || h.version > CAPTURE_VERSION) {
    return err(`capture version ${String(h.version)} is newer than this lifetrace reads (${CAPTURE_VERSION})`);
  }
  if (typeof h.families !== 'object' || h.families === null) return err('header has no families');
  return ok(h as unknown as CaptureHeader);
}
