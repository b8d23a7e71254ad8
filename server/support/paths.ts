/** Where the project's own files are, whether running from server/ (tests) or dist/server/ (built). */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'lifetrace') return dir;
    dir = dirname(dir);
  }
  throw new Error('cannot find the lifetrace project root (package.json)');
}

export const PROJECT_ROOT = findRoot();
export const projectPath = (...parts: string[]): string => join(PROJECT_ROOT, ...parts);
