import { createWriteStream } from 'node:fs';
import { Writable } from 'node:stream';
import { DEFAULT_REORDER } from '../decode/reorder.js';
import { exportPerfetto } from '../export/perfetto.js';
import { NS_PER_MS } from '../model/time.js';
import { err, ok } from '../support/result.js';
import { parse, type CommandResult, type Print } from './args.js';
import { ANALYSIS_ARGS, analysisOptions, readableCapture } from './analysis-args.js';

export const EXPORT_FORMATS = ['perfetto'] as const;

export const EXPORT_USAGE = `usage: lifetrace export CAPTURE [--format perfetto] [-o FILE] [options]

Writes a capture's object lifetimes, flags and evidence as a trace to open in a trace viewer.

formats:
  perfetto               Chrome trace-event JSON for ui.perfetto.dev (or chrome://tracing): a track
                         per object, its lifetime and phases as nested slices, flags as instants,
                         evidence chains as flows between the tasks' tracks (the default)

options:
  -o, --output FILE      write to FILE (default: standard output)
  --rules a,b            run only these rules (default: all; see 'lifetrace rules')
  --perm-wait-ms N       threshold of fsnotify.long-permission-wait (default 100)
  --reorder-window-ms N  how late a per-CPU record may arrive and still be ordered (default ${DEFAULT_REORDER.windowNs / NS_PER_MS})

The capture is read as a stream and each lifetime is written as it ends: memory stays bounded by
the objects live at one time, whatever the capture's size. A truncated capture is exported up to
where it breaks, with the error on standard error and in the trace's metadata.

exit status: 0 done; 2 usage or input error`;

export async function exportCommand(argv: string[], print: Print): Promise<CommandResult> {
  const args = parse(
    argv,
    {
      format: { type: 'string' },
      output: { type: 'string', short: 'o' },
      ...ANALYSIS_ARGS,
      help: { type: 'boolean', short: 'h' },
    },
    EXPORT_USAGE,
  );
  if (!args.ok) return args;
  const { values, positionals } = args.value;
  if (values.help) {
    print(`${EXPORT_USAGE}\n`);
    return ok(0);
  }
  if (positionals.length !== 1) return err(`export takes exactly one CAPTURE file\n\n${EXPORT_USAGE}`);
  const format = values.format ?? 'perfetto';
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) {
    return err(`--format takes one of ${EXPORT_FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
  }
  // The same analysis options as 'lifetrace analyze', so the exported flags are the ones it reports.
  const options = analysisOptions(values);
  if (!options.ok) return options;

  const path = await readableCapture(positionals[0]!);
  if (!path.ok) return path;

  const file = values.output;
  const out = file === undefined ? printStream(print) : createWriteStream(file);
  if (file !== undefined) {
    // Fail before reading the capture when FILE cannot be created (missing directory, no permission).
    try {
      await new Promise<void>((resolve, reject) => {
        out.once('open', () => resolve());
        out.once('error', reject);
      });
    } catch (e) {
      return err(`cannot write ${JSON.stringify(file)}: ${(e as Error).message}`);
    }
  }
  const result = await exportPerfetto(path.value, out, {
    endStream: file !== undefined,
    analysis: options.value,
  });
  const a = result.analysis;
  // Standard output may be the trace itself: what is said about the export goes to standard error.
  if (a.inputError !== undefined) process.stderr.write(`lifetrace: input error (exported what came before it): ${a.inputError}\n`);
  if (file !== undefined) {
    process.stderr.write(
      `lifetrace: wrote ${file}: ${result.lifetimes} lifetimes, ${a.flags.all().length} flags, ${result.traceEvents} trace events from ${a.events} kernel events\n`,
    );
  }
  return ok(0);
}

/**
 * Standard output through the CLI's print function (what main passes, and what tests capture).
 * process.stdout is synchronous for files, pipes and terminals on Linux, so this adds no unbounded
 * buffering; the export's backpressure wait is then a no-op.
 */
function printStream(print: Print): Writable {
  return new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _enc, done) {
      print(typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
      done();
    },
  });
}
