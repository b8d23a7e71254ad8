import { RULES } from '../rules/index.js';
import { mailingListLine } from '../rules/rule.js';
import { ok } from '../support/result.js';
import type { CommandResult, Print } from './args.js';

export function rulesCommand(argv: string[], print: Print): CommandResult {
  if (argv.includes('--json')) {
    print(
      `${JSON.stringify(
        RULES.map(({ id, severity, mailingList, title, explanation, fix }) => ({
          id,
          severity,
          thread: mailingList,
          title,
          explanation,
          fix: fix ?? null,
        })),
      )}\n`,
    );
    return ok(0);
  }
  for (const r of RULES) {
    print(`${r.id.padEnd(36)} ${r.severity.padEnd(8)} ${r.title}\n${' '.repeat(46)}thread ${mailingListLine(r.mailingList)}\n`);
    if (r.fix) print(`${' '.repeat(46)}fix ${r.fix}\n`);
  }
  return ok(0);
}
