/**
 * Data flows one way: probes -> capture -> decode -> lifetime -> rules -> analyze -> report ->
 * {live server, agent} -> cli. shared/ (the wire types, compiled for the browser too) is shared by server, agent and web/.
 * A module may import from its own layer or a lower one, never a higher one. model/ (the domain
 * types) is shared by all and stays free of node: imports so the browser can use it too.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const LAYERS: Record<string, number> = {
  model: 0,
  support: 0,
  shared: 0,
  probes: 1,
  capture: 1,
  vm: 1,
  fleet: 1,
  decode: 2,
  record: 2,
  lifetime: 3,
  rules: 4,
  analyze: 5,
  report: 6,
  export: 6,
  live: 7,
  agent: 7,
  cli: 8,
};

const server = join(import.meta.dirname, '..', 'server');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const layerOf = (file: string): string => relative(server, file).split('/')[0]!;

describe('architecture', () => {
  const files = tsFiles(server);

  it('every server folder has a layer', () => {
    expect(files.map(layerOf).filter((l) => !(l in LAYERS))).toEqual([]);
  });

  it('imports only go down the layers', () => {
    const violations: string[] = [];
    for (const f of files) {
      const from = layerOf(f);
      for (const m of readFileSync(f, 'utf8').matchAll(/^(?:import|export)[^'"]*from\s+'(\.[^']+)'/gm)) {
        const target = layerOf(join(f, '..', m[1]!));
        if (LAYERS[target]! > LAYERS[from]!) violations.push(`${relative(server, f)} imports ${m[1]} (${from} -> ${target})`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('no cycle of value imports: every module loads after what it needs (type imports vanish at runtime)', () => {
    const graph = new Map<string, string[]>();
    for (const f of files) {
      const deps = [...readFileSync(f, 'utf8').matchAll(/^(?:import|export)\s+(type\s+)?[^'"]*?from\s+'(\.[^']+)'/gm)]
        .filter((m) => m[1] === undefined)
        .map((m) => join(f, '..', m[2]!.replace(/\.js$/, '.ts')));
      graph.set(f, deps);
    }
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (f: string, path: string[]): void => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...path.slice(path.indexOf(f)), f].map((p) => relative(server, p)).join(' -> '));
        return;
      }
      state.set(f, 'open');
      for (const d of graph.get(f) ?? []) if (graph.has(d)) visit(d, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of files) visit(f, []);
    expect(cycles).toEqual([]);
  });

  it('model/ and shared/ have no node: imports', () => {
    const bad = files.filter((f) => ['model', 'shared'].includes(layerOf(f)) && /from 'node:/.test(readFileSync(f, 'utf8')));
    expect(bad.map((f) => relative(server, f))).toEqual([]);
  });
});

describe('no shell strings built from input', () => {
  const files = tsFiles(server);
  it('processes start with argument arrays: no shell option, no child_process, no execa command strings', () => {
    const bad: string[] = [];
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      for (const [what, re] of [
        ['shell option', /shell:\s*true/],
        ['node:child_process (use execa with an argument array)', /from 'node:child_process'/],
        ['execaCommand', /execaCommand/],
        ['execa template string', /\$`/],
      ] as const)
        if (re.test(text)) bad.push(`${relative(server, f)}: ${what}`);
    }
    expect(bad).toEqual([]);
  });
});
