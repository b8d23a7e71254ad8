/**
 * The rule conformance suite: every fixture in test/fixtures/rules states what it must (and must
 * not) raise in `# expect` lines; each runs through the real file reader and pipeline, and its
 * readable report is pinned as a golden snapshot.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROUTES } from '../server/decode/routes.js';
import { FAMILIES, RECORD_TAGS } from '../server/families/catalog.js';
import { renderText } from '../server/report/text.js';
import { RULES } from '../server/rules/index.js';
import { analyzeTrace, flagsOf } from './support/run.js';

const dir = join(import.meta.dirname, 'fixtures', 'rules');
const fixtures = readdirSync(dir)
  .filter((f) => f.endsWith('.trace'))
  .sort();

interface Expect {
  rule: string;
  none: boolean;
  props: Record<string, string>;
}

function expectations(src: string): { rules: Expect[]; anomalies: Record<string, number> | undefined } {
  const rules: Expect[] = [];
  let anomalies: Record<string, number> | undefined;
  for (const line of src.split('\n')) {
    const m = /^#\s*(expect|expect-none|anomalies)\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const words = m[2]!.trim().split(/\s+/);
    if (m[1] === 'anomalies') {
      anomalies = Object.fromEntries(words.map((w) => w.split('=')).map(([k, v]) => [k!, Number(v)]));
      continue;
    }
    const [rule, ...rest] = words;
    rules.push({ rule: rule!, none: m[1] === 'expect-none', props: Object.fromEntries(rest.map((w) => w.split('=') as [string, string])) });
  }
  return { rules, anomalies };
}

describe('rule fixtures', () => {
  it("the record tags a rule's needs may name (families/catalog.ts) are those the decoders read, family by family", () => {
    for (const family of FAMILIES) {
      const decoded = [...ROUTES.values()].filter((r) => r.family === family).map((r) => r.codec.spec.tag);
      expect([...RECORD_TAGS[family]].sort(), family).toEqual(decoded.sort());
    }
  });

  it('every rule has a positive and a negative fixture', () => {
    const all = fixtures.flatMap((f) => expectations(readFileSync(join(dir, f), 'utf8')).rules);
    for (const r of RULES) {
      expect(
        all.some((e) => e.rule === r.id && !e.none),
        `${r.id} positive`,
      ).toBe(true);
      expect(
        all.some((e) => e.rule === r.id && e.none),
        `${r.id} negative`,
      ).toBe(true);
    }
  });

  for (const name of fixtures) {
    it(name, async () => {
      const src = readFileSync(join(dir, name), 'utf8');
      const { rules, anomalies } = expectations(src);
      expect(rules.length, 'fixture states its expectations').toBeGreaterThan(0);
      const report = await analyzeTrace(src);
      for (const e of rules) {
        expect(
          RULES.some((r) => r.id === e.rule),
          `known rule ${e.rule}`,
        ).toBe(true);
        const flags = flagsOf(report, e.rule);
        if (e.none) {
          expect(
            flags.map((f) => f.message),
            `${e.rule} must not fire`,
          ).toEqual([]);
          continue;
        }
        if (e.props.count !== undefined) expect(flags.length, `${e.rule} flags`).toBe(Number(e.props.count));
        else expect(flags.length, `${e.rule} flags`).toBeGreaterThan(0);
        for (const f of flags) {
          if (e.props.severity) expect(f.severity).toBe(e.props.severity);
          if (e.props.occurrences) expect(f.count, 'occurrences').toBe(Number(e.props.occurrences));
          if (e.props.confidence) expect(f.confidence, f.uncertainty.join('; ')).toBe(e.props.confidence);
          if (e.props.guard) expect(f.guard?.state, f.guard?.how).toBe(e.props.guard);
          expect(f.evidence.length).toBeGreaterThan(0);
          const times = f.evidence.map((s) => BigInt(s.time));
          expect([...times].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(times);
        }
      }
      expect(report.summary.anomaly_counts).toEqual(anomalies ?? {});
      await expect(renderText(report, { chainsPerRule: 5 })).toMatchFileSnapshot(
        join('__snapshots__', 'rules', name.replace('.trace', '.txt')),
      );
    });
  }
});
