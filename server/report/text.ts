/** The human report of `lifetrace analyze`. */
import { formatGuard } from '../model/fixes.js';
import { formatDuration } from '../model/time.js';
import { stackLines } from '../model/describe.js';
import type { AnalysisReport, FlagReport } from './build.js';

export interface TextOptions {
  /** Evidence chains shown per rule. */
  chainsPerRule: number;
}

export function renderText(r: AnalysisReport, opts: TextOptions = { chainsPerRule: 3 }): string {
  const out: string[] = [];
  const s = r.summary;
  const h = s.header;
  out.push(
    h
      ? `capture: ${String(h.host)} kernel ${String(h.kernel)}, created ${String(h.created)}, families ${Object.keys(h.families as object).join(',')}`
      : 'capture: raw bpftrace output (no lifetrace header)',
  );
  out.push(
    `events: ${s.events} in ${s.duration_s.toFixed(3)} s (${s.lines} lines; ${
      Object.entries(s.records_by_family)
        .filter(([, n]) => n > 0)
        .map(([f, n]) => `${f} ${n}`)
        .join(', ') || 'none'
    })`,
  );
  out.push(
    `lost events: ${r.lost_events}${r.lost_events > 0 ? ` in ${r.loss_windows.length} window(s); flags overlapping them are marked uncertain` : ''}`,
  );
  if (s.input_error) out.push(`input error: ${s.input_error}`);
  out.push('');
  out.push('objects          born  pre-existing  freed  reused  live  peak   lifetime p50 / max');
  for (const [kind, k] of Object.entries(s.objects)) {
    if (k.born + k.preexisting === 0) continue;
    out.push(
      `  ${kind.padEnd(12)} ${String(k.born).padStart(6)} ${String(k.preexisting).padStart(13)} ${String(k.freed).padStart(6)} ${String(k.reused).padStart(7)} ${String(k.live_at_end).padStart(5)} ${String(k.peak_live).padStart(5)}   ` +
        (k.lifetime.count ? `~${formatDuration(k.lifetime.p50_ns)} / ${formatDuration(k.lifetime.max_ns)}` : '-'),
    );
  }
  out.push('');
  const sev = s.flags_by_severity;
  out.push(`flags: ${r.flags.length} (${sev.error} error, ${sev.warning} warning, ${sev.info} info)`);
  const byRule = new Map<string, FlagReport[]>();
  for (const f of r.flags) byRule.set(f.rule, [...(byRule.get(f.rule) ?? []), f]);
  for (const [rule, fs] of byRule) {
    const c = s.flags_by_rule[rule]!;
    out.push('');
    out.push(
      `[${fs[0]!.severity}] ${rule}: ${c.flags} flag(s), ${c.occurrences} occurrence(s)${c.dropped ? `, ${c.dropped} more not kept` : ''}`,
    );
    out.push(`  thread ${fs[0]!.thread}`);
    for (const f of fs.slice(0, opts.chainsPerRule)) {
      out.push(
        `  - ${f.message}${f.count > 1 ? ` (x${f.count})` : ''}${f.confidence === 'uncertain' ? `  [uncertain: ${f.uncertainty.join('; ')}]` : ''}`,
      );
      if (f.guard) out.push(`      ${formatGuard(f.guard)}`);
      for (const e of f.evidence) {
        out.push(`      +${e.offset_s.toFixed(9)}s cpu${e.cpu} ${e.comm}[${e.pid}/${e.tid}] ${e.fn}: ${e.detail}`);
        for (const [k, l] of stackLines(e).entries()) out.push(`${k === 0 ? '          ' : '            '}${l}`);
      }
    }
    if (fs.length > opts.chainsPerRule) out.push(`  ... ${fs.length - opts.chainsPerRule} more (see --json)`);
  }
  const anomalies = Object.entries(s.anomaly_counts);
  out.push('');
  out.push(`anomalies: ${anomalies.length === 0 ? 'none' : anomalies.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  for (const a of r.anomalies.slice(0, 10)) out.push(`  line ${a.line}: ${a.kind}: ${a.message}`);
  if (s.diagnostics.length > 0) {
    out.push(`bpftrace diagnostics: ${s.diagnostics.length}`);
    for (const d of s.diagnostics.slice(0, 5)) out.push(`  line ${d.line}: ${d.level}: ${d.message}`);
  }
  return `${out.join('\n')}\n`;
}
