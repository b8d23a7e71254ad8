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

// Two programs: the server (node) and the dashboard (browser); server/shared/ is compiled by both.
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const builds = [
  {
    out: join(root, 'dist', 'server', 'cli', 'main.js'),
    config: join(root, 'tsconfig.json'),
    sources: [join(root, 'server'), join(root, 'test', 'bench'), join(root, 'test', 'support')],
  },
  {
    out: join(root, 'dist', 'web', 'src', 'main.js'),
    config: join(root, 'web', 'tsconfig.json'),
    sources: [join(root, 'web', 'src'), join(root, 'server', 'shared')],
  },
];
for (const b of builds) {
  if (mtime(b.out) >= Math.max(mtime(b.config), ...b.sources.map(newest))) continue;
  process.stderr.write(`lifetrace: building ${b.config.slice(root.length + 1)} (tsc)...\n`);
  execFileSync(process.execPath, [tsc, '-p', b.config], { cwd: root, stdio: 'inherit' });
}
