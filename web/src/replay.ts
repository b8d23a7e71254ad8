/**
 * Replay controls: one bar per host that the server itself replays (HostView.replay set; an agent's
 * `--replay` stream has mode 'replay' but no controls). Play / pause, speed, "next flag", and a
 * time axis from the trace's first to its last record with the position and a tick per flag time;
 * click or drag on it to seek (sent when the pointer is released), or use the arrow keys.
 *
 * The bars are kept and updated in place (a stats message every 500 ms must not close the speed
 * list or end a drag); a bar goes when its host has no replay any more.
 */
import type { HostView, ReplayCommand, ReplayView } from '../../server/shared/wire.js';
import { h } from './dom.js';
import { formatSeconds, formatSpeed } from './format.js';

export const REPLAY_SPEEDS: readonly (number | 'max')[] = [0.1, 0.5, 1, 2, 5, 10, 100, 'max'];

/** Where `t` is on the axis from start_s to end_s, 0..1 (a zero-length trace is all at 0). */
export function axisFraction(v: Pick<ReplayView, 'start_s' | 'end_s'>, t: number): number {
  const span = v.end_s - v.start_s;
  if (!(span > 0)) return 0;
  return Math.min(1, Math.max(0, (t - v.start_s) / span));
}

/** The kernel time at fraction `f` (0..1) of the axis. */
export function axisTime(v: Pick<ReplayView, 'start_s' | 'end_s'>, f: number): number {
  return v.start_s + Math.min(1, Math.max(0, f)) * (v.end_s - v.start_s);
}

export function replayState(v: ReplayView): 'finished' | 'playing' | 'paused' {
  return v.finished ? 'finished' : v.playing ? 'playing' : 'paused';
}

export interface ReplayWidget {
  /** The hosts of the latest stats message (bars follow their `replay`). */
  render(hosts: HostView[]): void;
}

/** Sends a command; answers the replay's new state (applied at once, the feed confirms it). */
export type SendReplayCommand = (host: string, c: ReplayCommand) => Promise<ReplayView>;

interface Bar {
  root: HTMLElement;
  update(v: ReplayView): void;
}

const pct = (f: number): string => `${(f * 100).toFixed(3)}%`;

function createBar(host: string, send: SendReplayCommand): Bar {
  let view: ReplayView | undefined;
  /** The axis time under the pointer while dragging (the feed's position is not shown meanwhile). */
  let dragging: number | undefined;
  let busy = 0;
  let ticksKey = '';

  const play = h('button', { type: 'button', class: 'replay-play', 'data-testid': 'replay-play' }, 'Pause');
  const speed = h(
    'select',
    { class: 'replay-speed', 'data-testid': 'replay-speed', title: "replay speed (times the trace's own pace)" },
    ...REPLAY_SPEEDS.map((s) => h('option', { value: String(s) }, formatSpeed(s))),
  );
  const next = h(
    'button',
    { type: 'button', 'data-testid': 'replay-next-flag', title: 'run to the next flag and pause there' },
    'Next flag »',
  );
  const state = h('span', { class: 'badge replay-state', 'data-testid': 'replay-state' });
  const time = h('span', { class: 'replay-time num', 'data-testid': 'replay-time' });
  const fill = h('div', { class: 'replay-fill' });
  const ticks = h('div', { class: 'replay-ticks' });
  const handle = h('div', { class: 'replay-handle', 'data-testid': 'replay-position' });
  const axis = h(
    'div',
    {
      class: 'replay-axis',
      'data-testid': 'replay-axis',
      role: 'slider',
      tabindex: 0,
      'aria-label': `replay position of ${host}`,
    },
    h('div', { class: 'replay-track' }, fill),
    ticks,
    handle,
  );
  const start = h('span', { class: 'replay-end num' });
  const end = h('span', { class: 'replay-end num' });
  /** The capture could not be read to its end (from the server). */
  const error = h('span', { class: 'error replay-error', 'data-testid': 'replay-error', hidden: true });
  /** The last command failed (cleared by the next one that works). */
  const refused = h('span', { class: 'error', 'data-testid': 'replay-command-error', hidden: true });
  const root = h(
    'div',
    { class: 'replay-bar', 'data-testid': 'replay-bar', 'data-host': host },
    h('strong', { class: 'replay-host', title: 'a capture replayed by the server' }, `▶ ${host}`),
    h('span', { class: 'replay-capture', 'data-testid': 'replay-capture' }),
    play,
    speed,
    next,
    start,
    axis,
    end,
    time,
    state,
    error,
    refused,
  );

  function command(c: ReplayCommand): void {
    busy++;
    root.classList.add('busy');
    send(host, c)
      .then(
        (v) => {
          refused.hidden = true;
          update(v);
        },
        (err: unknown) => {
          refused.hidden = false;
          refused.textContent = `${c.action}: ${err instanceof Error ? err.message : String(err)}`;
        },
      )
      .finally(() => {
        if (--busy === 0) root.classList.remove('busy');
      });
  }

  function showPosition(t: number): void {
    if (!view) return;
    const f = axisFraction(view, t);
    fill.style.width = pct(f);
    handle.style.left = pct(f);
    axis.setAttribute('aria-valuenow', t.toFixed(3));
    axis.setAttribute('aria-valuetext', formatSeconds(t));
    time.textContent = `${formatSeconds(t)} / ${formatSeconds(view.end_s)}`;
  }

  function update(v: ReplayView): void {
    view = v;
    const st = replayState(v);
    root.dataset.state = st;
    root.dataset.position = String(v.position_s);
    root.dataset.start = String(v.start_s);
    root.dataset.end = String(v.end_s);
    root.dataset.speed = String(v.speed);
    root.querySelector('.replay-capture')!.textContent = v.capture;
    state.dataset.state = st;
    state.className = `badge replay-state replay-${st}`;
    state.textContent = st;
    play.dataset.action = v.playing && !v.finished ? 'pause' : 'play';
    play.textContent = v.finished ? 'Play again ↺' : v.playing ? 'Pause ⏸' : 'Play ▶';
    play.title = v.finished ? 'start over from the beginning' : '';
    const sv = String(v.speed);
    if (![...speed.options].some((o) => o.value === sv)) speed.append(h('option', { value: sv }, formatSpeed(v.speed)));
    if (speed.value !== sv && document.activeElement !== speed) speed.value = sv;
    const later = v.flags_s.some((t) => t > v.position_s + 1e-9);
    next.toggleAttribute('disabled', !later || v.finished);
    next.title = later ? 'run to the next flag and pause there' : 'no flag after this position';
    start.textContent = formatSeconds(v.start_s);
    end.textContent = formatSeconds(v.end_s);
    axis.setAttribute('aria-valuemin', String(v.start_s));
    axis.setAttribute('aria-valuemax', String(v.end_s));
    const key = JSON.stringify([v.start_s, v.end_s, v.flags_s]);
    if (key !== ticksKey) {
      ticksKey = key;
      // Flags often come in bursts: one tick per distinct time.
      ticks.replaceChildren(
        ...[...new Set(v.flags_s)].map((t) =>
          h('span', {
            class: 'replay-tick',
            'data-testid': 'replay-flag-tick',
            'data-t': String(t),
            title: `flag at ${formatSeconds(t)}`,
            style: `left: ${pct(axisFraction(v, t))}`,
          }),
        ),
      );
    }
    for (const tick of ticks.children) tick.classList.toggle('passed', Number((tick as HTMLElement).dataset.t) <= v.position_s);
    error.hidden = v.error === null;
    error.textContent = v.error ?? '';
    if (dragging === undefined) showPosition(v.position_s);
  }

  play.addEventListener('click', () => command({ action: play.dataset.action === 'pause' ? 'pause' : 'play' }));
  next.addEventListener('click', () => command({ action: 'next-flag' }));
  speed.addEventListener('change', () => {
    const s = speed.value === 'max' ? 'max' : Number(speed.value);
    command({ action: 'speed', speed: s });
    speed.blur();
  });

  const timeAt = (e: PointerEvent): number => {
    const r = axis.getBoundingClientRect();
    return axisTime(view!, r.width > 0 ? (e.clientX - r.left) / r.width : 0);
  };
  axis.addEventListener('pointerdown', (e) => {
    if (!view || e.button !== 0) return;
    axis.setPointerCapture(e.pointerId);
    dragging = timeAt(e);
    axis.classList.add('dragging');
    showPosition(dragging);
  });
  axis.addEventListener('pointermove', (e) => {
    if (dragging === undefined) return;
    dragging = timeAt(e);
    showPosition(dragging);
  });
  const release = (e: PointerEvent, seek: boolean): void => {
    if (dragging === undefined) return;
    const to = seek ? timeAt(e) : undefined;
    dragging = undefined;
    axis.classList.remove('dragging');
    if (to !== undefined) command({ action: 'seek', to_s: to });
    else if (view) showPosition(view.position_s);
  };
  axis.addEventListener('pointerup', (e) => release(e, true));
  axis.addEventListener('pointercancel', (e) => release(e, false));
  axis.addEventListener('keydown', (e) => {
    if (!view) return;
    const step = (view.end_s - view.start_s) / 20;
    const to =
      e.key === 'ArrowLeft'
        ? view.position_s - step
        : e.key === 'ArrowRight'
          ? view.position_s + step
          : e.key === 'Home'
            ? view.start_s
            : e.key === 'End'
              ? view.end_s
              : undefined;
    if (to === undefined) return;
    e.preventDefault();
    command({ action: 'seek', to_s: Math.min(view.end_s, Math.max(view.start_s, to)) });
  });

  return { root, update };
}

export function createReplay(root: HTMLElement, send: SendReplayCommand): ReplayWidget {
  const bars = new Map<string, Bar>();
  root.hidden = true;
  return {
    render(hosts) {
      const replays = hosts.filter((v) => v.replay !== null).sort((a, b) => a.host.localeCompare(b.host));
      const keep = new Set(replays.map((v) => v.host));
      for (const [host, bar] of bars) {
        if (!keep.has(host)) {
          bar.root.remove();
          bars.delete(host);
        }
      }
      for (const v of replays) {
        let bar = bars.get(v.host);
        if (!bar) {
          bar = createBar(v.host, send);
          bars.set(v.host, bar);
        }
        bar.update(v.replay!);
      }
      // In host order, moving only what is out of place (moving a bar would end a drag on it).
      replays.forEach((v, i) => {
        const el = bars.get(v.host)!.root;
        if (root.children[i] !== el) root.insertBefore(el, root.children[i] ?? null);
      });
      root.hidden = replays.length === 0;
    },
  };
}
