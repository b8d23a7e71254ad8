/**
 * The captures panel: record a host's stream (or every streaming host's) into the server's capture
 * library and stop it, and the library itself: name, size, time, a badge while being recorded,
 * download, replay on the server (a new host) and delete; an upload control adds files. On a server
 * with a NATS connection, the agent runs on the fleet's stream, each with a range (kernel seconds)
 * to download or save into the library.
 *
 * Rows are keyed and updated in place: the recording sizes change with every stats message and a
 * button must not be replaced under the pointer.
 */
import type { CaptureInfo, HostView, SaveRangeRequest, StreamRun } from '../../server/shared/wire.js';
import type { RunSpan } from './api.js';
import { h } from './dom.js';
import { formatBytes, formatDateTime, formatSeconds } from './format.js';

export interface CapturesActions {
  /** `host` undefined: every streaming host. `name`: an optional prefix for the capture's name. */
  record(host: string | undefined, name: string | undefined): void;
  stop(host: string | undefined): void;
  replay(name: string): void;
  /** Already confirmed by the user. */
  remove(name: string): void;
  upload(files: File[]): void;
  refresh(): void;
  /** Saves a range of a stream run into the library. */
  saveRange(host: string, run: string, req: SaveRangeRequest): void;
}

export interface CapturesWidget {
  setHosts(hosts: HostView[]): void;
  setCaptures(list: CaptureInfo[]): void;
  /** The runs on the fleet's stream (the section is hidden without any). */
  setStreams(runs: StreamRun[]): void;
  /** A line under the panel's head: what the last action did, or why it failed. */
  message(text: string, kind: 'ok' | 'error'): void;
}

/** Hosts that can be recorded (their stream goes on) or have a recording open. */
export function recordableHosts(hosts: HostView[]): HostView[] {
  return hosts.filter((v) => !v.ended || v.recording !== null).sort((a, b) => a.host.localeCompare(b.host));
}

interface Row<T> {
  el: HTMLElement;
  update(v: T): void;
}

/** Keeps one element per key in `parent`, in the order of `items`. */
function keyed<T>(parent: HTMLElement, rows: Map<string, Row<T>>, items: T[], key: (v: T) => string, make: (v: T) => Row<T>): void {
  const keep = new Set(items.map(key));
  for (const [k, r] of rows) {
    if (!keep.has(k)) {
      r.el.remove();
      rows.delete(k);
    }
  }
  items.forEach((v, i) => {
    const k = key(v);
    let r = rows.get(k);
    if (!r) rows.set(k, (r = make(v)));
    r.update(v);
    if (parent.children[i] !== r.el) parent.insertBefore(r.el, parent.children[i] ?? null);
  });
}

/** A capture name for a range of a stream run: host and the run's start, made safe. */
export function rangeName(r: StreamRun): string {
  const base = `${r.host}-${r.run.slice(0, 8)}`.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  return `${base.slice(0, 100)}.ljsonl.gz`;
}

export function createCaptures(
  root: HTMLElement,
  actions: CapturesActions,
  downloadUrl: (name: string) => string,
  streamUrl: (host: string, run: string, span: RunSpan) => string,
): CapturesWidget {
  const prefix = h('input', {
    type: 'text',
    class: 'record-name',
    'data-testid': 'record-name',
    placeholder: 'name prefix (optional)',
    maxlength: 60,
    pattern: '[A-Za-z0-9][A-Za-z0-9._\\-]*',
    title: 'letters, digits, . _ - ; the capture is named PREFIX-HOST-TIME.ljsonl.gz',
  });
  const name = (): string | undefined => prefix.value.trim() || undefined;
  const recordAll = h(
    'button',
    { type: 'button', 'data-testid': 'record-all', onclick: () => actions.record(undefined, name()) },
    '● Record all',
  );
  const stopAll = h('button', { type: 'button', 'data-testid': 'stop-all', onclick: () => actions.stop(undefined) }, '■ Stop all');
  const hostsBody = h('tbody', { 'data-testid': 'record-hosts' });
  const noHosts = h('div', { class: 'empty', 'data-testid': 'record-none' }, 'No host is streaming.');
  const hostRows = new Map<string, Row<HostView>>();

  const file = h('input', { type: 'file', 'data-testid': 'capture-upload', accept: '.ljsonl,.gz', multiple: true });
  file.addEventListener('change', () => {
    const files = [...(file.files ?? [])];
    file.value = '';
    if (files.length > 0) actions.upload(files);
  });
  const refresh = h(
    'button',
    { type: 'button', 'data-testid': 'captures-refresh', title: 'list the library again', onclick: () => actions.refresh() },
    '↻',
  );
  const libBody = h('tbody', { 'data-testid': 'capture-list' });
  const libEmpty = h(
    'div',
    { class: 'empty', 'data-testid': 'captures-empty', hidden: true },
    'The library is empty: record a stream or upload a capture.',
  );
  const libRows = new Map<string, Row<CaptureInfo>>();
  const streamBody = h('tbody', { 'data-testid': 'stream-runs' });
  const streamRows = new Map<string, Row<StreamRun>>();
  const streamSection = h(
    'div',
    { class: 'captures-streams', 'data-testid': 'captures-streams', hidden: true },
    h(
      'div',
      { class: 'captures-bar' },
      h('h3', {}, 'Fleet stream'),
      h('span', { class: 'note' }, 'agent runs on NATS: a range (kernel s) downloaded or saved into the library'),
    ),
    h(
      'table',
      { class: 'compact' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', {}, 'host'),
          h('th', {}, 'run'),
          h('th', {}, 'batches'),
          h('th', {}, 'kernel time'),
          h('th', {}, 'size'),
          h('th', {}, 'range and name'),
          h('th', {}, ''),
        ),
      ),
      streamBody,
    ),
  );
  const msg = h('div', { class: 'captures-message', 'data-testid': 'captures-message', hidden: true });
  /** Live sizes of the captures being recorded (from the hosts), newer than the last listing. */
  let recordingBytes = new Map<string, number>();
  let list: CaptureInfo[] = [];

  function hostRow(v: HostView): Row<HostView> {
    const status = h('td', { class: 'rec-status', 'data-testid': 'recording-status' });
    const button = h('button', { type: 'button' });
    button.addEventListener('click', () => (button.dataset.action === 'stop' ? actions.stop(v.host) : actions.record(v.host, name())));
    const el = h(
      'tr',
      { 'data-testid': 'record-host', 'data-host': v.host },
      h('td', { class: 'host-name' }, v.host),
      status,
      h('td', {}, button),
    );
    return {
      el,
      update(v) {
        const r = v.recording;
        el.dataset.recording = r === null ? '' : r.name;
        el.classList.toggle('recording', r !== null && r.error === null);
        button.dataset.action = r === null || r.error !== null ? 'record' : 'stop';
        button.dataset.testid = r === null || r.error !== null ? 'capture-record' : 'capture-stop';
        button.textContent = r === null || r.error !== null ? '● Record' : '■ Stop';
        button.disabled = r === null && v.ended;
        if (r === null) status.replaceChildren(h('span', { class: 'note' }, v.ended ? 'stream ended' : 'not recording'));
        else {
          status.replaceChildren(
            h('span', { class: r.error === null ? 'rec-dot' : 'rec-dot failed' }, '●'),
            ' ',
            h('span', { class: 'rec-name', 'data-testid': 'recording-name' }, r.name),
            ' ',
            h('span', { class: 'num', 'data-testid': 'recording-bytes' }, formatBytes(r.bytes)),
            r.error === null ? '' : h('span', { class: 'error', 'data-testid': 'recording-error' }, ` ${r.error}`),
          );
        }
      },
    };
  }

  function captureRow(c: CaptureInfo): Row<CaptureInfo> {
    const size = h('td', { class: 'num', 'data-testid': 'capture-size' });
    const when = h('td', { class: 'num', 'data-testid': 'capture-time' });
    const badge = h('span', { class: 'badge rec-badge', 'data-testid': 'capture-recording', hidden: true }, '● recording');
    const download = h(
      'a',
      { class: 'button', 'data-testid': 'capture-download', href: downloadUrl(c.name), download: c.name, title: 'download the capture' },
      '⤓ Download',
    );
    const replay = h(
      'button',
      {
        type: 'button',
        'data-testid': 'capture-replay',
        title: 'replay on the server as a new host',
        onclick: () => actions.replay(c.name),
      },
      '▶ Replay',
    );
    const remove = h('button', { type: 'button', class: 'danger', 'data-testid': 'capture-delete' }, '✕ Delete');
    remove.addEventListener('click', () => {
      if (window.confirm(`Delete the capture ${c.name} from the server? This cannot be undone.`)) actions.remove(c.name);
    });
    const el = h(
      'tr',
      { 'data-testid': 'capture-row', 'data-name': c.name },
      h('td', { class: 'capture-name' }, h('span', { 'data-testid': 'capture-name' }, c.name), ' ', badge),
      size,
      when,
      h('td', { class: 'capture-actions' }, download, replay, remove),
    );
    return {
      el,
      update(c) {
        const bytes = recordingBytes.get(c.name) ?? c.bytes;
        el.dataset.recording = String(c.recording);
        size.textContent = formatBytes(bytes);
        size.title = `${bytes.toLocaleString('en-US')} bytes`;
        when.textContent = formatDateTime(c.modified);
        badge.hidden = !c.recording;
        remove.disabled = c.recording;
        remove.title = c.recording ? 'being recorded: stop the recording first' : 'delete from the server';
        replay.disabled = c.recording;
      },
    };
  }

  function streamRow(r0: StreamRun): Row<StreamRun> {
    const batches = h('td', { class: 'num', 'data-testid': 'stream-batches' });
    const span = h('td', { class: 'num', 'data-testid': 'stream-span' });
    const size = h('td', { class: 'num', 'data-testid': 'stream-size' });
    const num = (testid: string, placeholder: string) =>
      h('input', { type: 'number', class: 'range-s', 'data-testid': testid, placeholder, min: 0, step: 'any' });
    const from = num('stream-from', 'from s');
    const to = num('stream-to', 'to s');
    const name = h('input', {
      type: 'text',
      class: 'range-name',
      'data-testid': 'stream-name',
      value: rangeName(r0),
      maxlength: 128,
      title: 'the capture name in the library: letters, digits, . _ - ending .ljsonl or .ljsonl.gz',
    });
    const spanOf = (): RunSpan => ({
      ...(from.value === '' ? {} : { from_s: Number(from.value) }),
      ...(to.value === '' ? {} : { to_s: Number(to.value) }),
    });
    const download = h('a', { class: 'button', 'data-testid': 'stream-download', title: 'download the range as a capture' }, '⤓ Download');
    const setHref = (): void => {
      download.setAttribute('href', streamUrl(r0.host, r0.run, spanOf()));
      download.setAttribute('download', name.value);
    };
    for (const i of [from, to, name]) i.addEventListener('input', setHref);
    setHref();
    const save = h(
      'button',
      {
        type: 'button',
        'data-testid': 'stream-save',
        title: 'save the range into the library',
        onclick: () => actions.saveRange(r0.host, r0.run, { name: name.value.trim(), ...spanOf() }),
      },
      '⇩ Save range',
    );
    const el = h(
      'tr',
      { 'data-testid': 'stream-run', 'data-host': r0.host, 'data-run': r0.run },
      h('td', { class: 'host-name' }, r0.host),
      h('td', { title: r0.run }, r0.run.slice(0, 8)),
      batches,
      span,
      size,
      h('td', { class: 'range-inputs' }, from, '–', to, ' ', name),
      h('td', { class: 'capture-actions' }, download, save),
    );
    return {
      el,
      update(r) {
        batches.textContent = `${r.first_seq}–${r.last_seq}${r.missing > 0 ? ` (${r.missing} missing)` : ''}${r.ended ? '' : ' …'}`;
        batches.title = r.ended ? 'the run ended' : 'the run goes on';
        span.textContent = r.first_s === null ? '—' : `${formatSeconds(r.first_s)} – ${formatSeconds(r.last_s)}`;
        span.title = `seconds from the run's time base (kernel ${r.base_ns ?? '?'} ns); stored ${r.stored_from} to ${r.stored_to}`;
        size.textContent = formatBytes(r.bytes);
      },
    };
  }

  function drawList(): void {
    keyed(libBody, libRows, list, (c) => c.name, captureRow);
    libEmpty.hidden = list.length > 0;
  }

  root.replaceChildren(
    h(
      'div',
      { class: 'captures-head' },
      h('h2', {}, 'Captures'),
      h('span', { class: 'note' }, "record streams into the server's library, replay them with controls, download or upload"),
    ),
    msg,
    h(
      'div',
      { class: 'captures-grid' },
      h(
        'div',
        { class: 'captures-record' },
        h('div', { class: 'captures-bar' }, h('h3', {}, 'Record'), prefix, recordAll, stopAll),
        h(
          'table',
          { class: 'compact' },
          h('thead', {}, h('tr', {}, h('th', {}, 'host'), h('th', {}, 'recording'), h('th', {}, ''))),
          hostsBody,
        ),
        noHosts,
      ),
      h(
        'div',
        { class: 'captures-library' },
        h('div', { class: 'captures-bar' }, h('h3', {}, 'Library'), refresh, h('label', { class: 'upload' }, 'Upload ', file)),
        h(
          'table',
          { class: 'compact' },
          h('thead', {}, h('tr', {}, h('th', {}, 'name'), h('th', {}, 'size'), h('th', {}, 'modified'), h('th', {}, ''))),
          libBody,
        ),
        libEmpty,
      ),
    ),
    streamSection,
  );

  return {
    setHosts(hosts) {
      const rec = recordableHosts(hosts);
      keyed(hostsBody, hostRows, rec, (v) => v.host, hostRow);
      noHosts.hidden = rec.length > 0;
      recordAll.disabled = !rec.some((v) => !v.ended && (v.recording === null || v.recording.error !== null));
      stopAll.disabled = !rec.some((v) => v.recording !== null);
      recordingBytes = new Map(hosts.flatMap((v) => (v.recording === null ? [] : [[v.recording.name, v.recording.bytes] as const])));
      drawList();
    },
    setCaptures(l) {
      list = [...l].sort((a, b) => b.modified.localeCompare(a.modified) || a.name.localeCompare(b.name));
      drawList();
    },
    setStreams(runs) {
      keyed(streamBody, streamRows, runs, (r) => `${r.host}\n${r.run}`, streamRow);
      streamSection.hidden = runs.length === 0;
    },
    message(text, kind) {
      msg.hidden = false;
      msg.className = `captures-message ${kind}`;
      msg.dataset.kind = kind;
      msg.textContent = text;
    },
  };
}
