#!/usr/bin/env node
// The installed `lifetrace` command. The TypeScript is compiled to dist/ by `npm install` (prepare).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../../dist/server/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write(
    `lifetrace: not built yet. Run 'npm install' (or 'npm run build') in ${fileURLToPath(new URL('../..', import.meta.url))}\n`,
  );
  process.exit(2);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
