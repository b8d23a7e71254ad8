/** `lifetrace replay`: a capture through the live pipeline, on the dashboard, with replay controls. */
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { HttpError } from '../live/http-error.js';
import { err, ok } from '../support/result.js';
import type { CommandResult, Print } from './args.js';
import { launch, parseServeArgs, SERVE_USAGE, untilSignal } from './serve.js';

const REPLAY_USAGE = `usage: lifetrace replay CAPTURE [--speed N|max] [--loop] [--port 7070] [serve options]

Serves the dashboard and feeds CAPTURE through the same pipeline as a live host, paced by its kernel
timestamps: N times as fast (0.1 to 100, default 1) or 'max'. The page has the controls: play and
pause, speed, seek on the time axis, jump to the next flag. --loop starts over at the end.
The flags equal those of 'lifetrace analyze CAPTURE'.

${SERVE_USAGE}`;

export async function replayCommand(argv: string[], print: Print): Promise<CommandResult> {
  const parsed = parseServeArgs(argv, REPLAY_USAGE, { speed: { type: 'string' }, loop: { type: 'boolean' } }, true);
  if (!parsed.ok) return parsed;
  const { args, values, explicitToken } = parsed.value;
  if (values.help) {
    print(`${REPLAY_USAGE}\n`);
    return ok(0);
  }
  const v = values as { speed?: string; loop?: boolean; positionals: string[] };
  const file = v.positionals[0];
  if (file === undefined || v.positionals.length > 1) return err(`give one CAPTURE\n\n${REPLAY_USAGE}`);
  const path = resolve(file);
  if (!existsSync(path)) return err(`no such capture: ${file}`);
  const speed = v.speed === undefined ? 1 : v.speed === 'max' ? 'max' : Number(v.speed);
  if (speed !== 'max' && (!Number.isFinite(speed) || speed < 0.1 || speed > 100))
    return err(`--speed takes a factor from 0.1 to 100, or max; got ${JSON.stringify(v.speed)}`);
  const launched = await launch(args, explicitToken);
  if (!launched.ok) return launched;
  const server = launched.value;
  const host =
    basename(path)
      .replace(/\.ljsonl(\.gz)?$/, '')
      .replace(/[^A-Za-z0-9._:-]/g, '_')
      .slice(0, 128) || 'replay';
  try {
    await server.hub.desk.replayFile(path, host, speed, v.loop === true);
  } catch (e) {
    await server.close();
    if (e instanceof HttpError) return err(e.message);
    throw e;
  }
  print(`lifetrace: dashboard at ${server.url}\n`);
  const error = server.hub.desk.replayOf(host)?.view().error;
  if (error) print(`lifetrace: ${error}; replaying what comes before it\n`);
  print(`lifetrace: replaying ${path} as host ${host} at ${speed === 'max' ? 'full speed' : `${speed}x`}${v.loop ? ', in a loop' : ''}\n`);
  await untilSignal();
  await server.close();
  return ok(0);
}
