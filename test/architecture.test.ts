/**
 * Data flows one way: probes -> capture -> decode -> lifetime -> rules -> analyze -> report ->
 * {live server, agent} -> cli. shared/ (the wire types, compiled for the browser too) is shared by server, agent and web/.
 * A module may import from its own layer or a lower one, never a higher one, and no import (a type
 * import too) closes a cycle, in the server or the dashboard. model/ (the domain types) is shared by
 * all and stays free of node: imports so the browser can use it too.
 * families/<family>/ holds one probe family's parts, each at the layer of its role: its events and
 * descriptions with the model, its records with decode, its lifetime effects (and its index, which
 * gathers them) with lifetime; families/*.ts (the family catalog) with the model.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FAMILIES } from '../server/families/catalog.js';

const LAYERS: Record<string, number> = {
  model: 0,
  support: 0,
  shared: 0,
  probes: 1,
  capture: 1,
  vm: 1,
  fleet: 1,
  decode: 2,
  recorder: 2,
  lifetime: 3,
  rules: 4,
  analyze: 5,
  report: 6,
  export: 6,
  live: 7,
  agent: 7,
  'fleet-worker': 7,
  'fleet-dashboard': 7,
  cli: 8,
};

const server = join(import.meta.dirname, '..', 'server');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** The layer of each role of a family's file (families/<family>/<role>.ts). */
const FAMILY_ROLES: Record<string, string> = {
  events: 'model',
  describe: 'model',
  records: 'decode',
  effects: 'lifetime',
  index: 'lifetime',
};

const layerOf = (file: string): string => {
  const parts = relative(server, file).split('/');
  if (parts[0] !== 'families') return parts[0]!;
  if (parts.length === 2) return 'model';
  return FAMILY_ROLES[parts[2]!.replace(/\.ts$/, '')] ?? 'families/?';
};

describe('architecture', () => {
  const files = tsFiles(server);

  it('every server folder has a layer', () => {
    expect(files.map(layerOf).filter((l) => !(l in LAYERS))).toEqual([]);
  });

  it('families/ has a folder per family of its catalog, and nothing else', () => {
    const folders = readdirSync(join(server, 'families'), { withFileTypes: true }).filter((e) => e.isDirectory());
    expect(folders.map((e) => e.name).sort()).toEqual([...FAMILIES].sort());
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

  it('no import cycle, type imports included: every module can be read (and loaded) after what it names', () => {
    // As Perfetto's check_imports: a type import ties two modules as much as a value import does (one
    // cannot be understood, moved or split off without the other), so a cycle of either is refused.
    // The server and the dashboard both.
    const modules = [...files, ...tsFiles(join(server, '..', 'web', 'src'))];
    const graph = new Map<string, string[]>();
    for (const f of modules) {
      const text = readFileSync(f, 'utf8');
      const specs = [
        ...[...text.matchAll(/^(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'/gm)].map((m) => m[1]!),
        ...[...text.matchAll(/^import\s+'(\.[^']+)'/gm)].map((m) => m[1]!),
        ...[...text.matchAll(/\bimport\(\s*'(\.[^']+)'\s*\)/g)].map((m) => m[1]!),
      ];
      graph.set(
        f,
        specs.map((m) => join(f, '..', m.replace(/\.js$/, '.ts'))),
      );
    }
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (f: string, path: string[]): void => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...path.slice(path.indexOf(f)), f].map((p) => relative(join(server, '..'), p)).join(' -> '));
        return;
      }
      state.set(f, 'open');
      for (const d of graph.get(f) ?? []) if (graph.has(d)) visit(d, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of modules) visit(f, []);
    expect(cycles).toEqual([]);
  });

  it('model/, shared/ and the model-level family files have no node: imports', () => {
    const bad = files.filter((f) => ['model', 'shared'].includes(layerOf(f)) && /from 'node:/.test(readFileSync(f, 'utf8')));
    expect(bad.map((f) => relative(server, f))).toEqual([]);
  });

  it('web/src loads only itself and shared/, shared/ only itself: the browser is served nothing else of the server', () => {
    const web = join(server, '..', 'web', 'src');
    const shared = join(server, 'shared');
    const bad: string[] = [];
    for (const f of [...tsFiles(web), ...files.filter((f) => layerOf(f) === 'shared')]) {
      const home = f.startsWith(`${web}/`) ? web : shared;
      // A type import vanishes at runtime (web/src/charts.ts takes chart.js' types; index.html loads chart.js).
      for (const m of readFileSync(f, 'utf8').matchAll(/^(?:import|export)\s+(type\s+)?[^'"]*?from\s+'([^']+)'/gm)) {
        const target = join(f, '..', m[2]!);
        const local = m[2]!.startsWith('.') && (target.startsWith(`${shared}/`) || target.startsWith(`${home}/`));
        if (!local && (m[1] === undefined || m[2]!.startsWith('.'))) bad.push(`${relative(join(server, '..'), f)} imports ${m[2]}`);
      }
    }
    expect(bad).toEqual([]);
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
