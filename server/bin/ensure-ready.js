#!/usr/bin/env node
// Run by `npm start` and `npm test` before anything else: installs the npm packages from
// package-lock.json when they are missing or stale, and rebuilds dist/ when a source is newer.
// Plain JavaScript with no dependencies, because it runs before they exist.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0);

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, mtime(p));
  }
  return t;
}

const marker = join(root, 'node_modules', '.package-lock.json');
if (!existsSync(marker) || mtime(join(root, 'package-lock.json')) > mtime(marker)) {
  process.stderr.write('lifetrace: installing npm packages (npm ci)...\n');
  execFileSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
}

const built = join(root, 'dist', 'server', 'cli', 'main.js');
const sources = Math.max(newest(join(root, 'server')), newest(join(root, 'test', 'bench')), newest(join(root, 'test', 'support')), mtime(join(root, 'tsconfig.json')));
if (mtime(built) < sources) {
  process.stderr.write('lifetrace: building (tsc)...\n');
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], { cwd: root, stdio: 'inherit' });
}
