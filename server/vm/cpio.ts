/** A cpio "newc" archive writer (the initramfs format), so building a guest needs no shell pipeline. */

export interface CpioEntry {
  path: string;
  /** File contents; undefined for a directory. */
  data?: Buffer;
  mode: number;
}

const pad4 = (n: number): number => (4 - (n % 4)) % 4;
const hex8 = (n: number): string => n.toString(16).padStart(8, '0');

export function cpioNewc(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const push = (e: CpioEntry): void => {
    const name = Buffer.from(`${e.path}\0`);
    const size = e.data?.length ?? 0;
    const fields = [ino++, e.mode, 0, 0, 1, 0, size, 0, 0, 0, 0, name.length, 0];
    const header = Buffer.from(`070701${fields.map(hex8).join('')}`, 'ascii');
    parts.push(header, name, Buffer.alloc(pad4(header.length + name.length)));
    if (e.data) parts.push(e.data, Buffer.alloc(pad4(size)));
  };
  for (const e of entries) push(e);
  push({ path: 'TRAILER!!!', mode: 0 });
  return Buffer.concat(parts);
}

export const DIR = 0o040755;
export const EXEC = 0o100755;
export const FILE = 0o100644;
