/**
 * The only place that wires widgets: the feed socket fills the store, the store is drawn once per
 * animation frame, the filter bar narrows flags, charts and losses, pause freezes the view and
 * resume asks the server for a fresh snapshot. REST calls (drill-down, objects, filtered flags,
 * the capture library, recordings, replay commands) start here too.
 */
import { CAPTURE_NAME } from '../../server/shared/capture-name.js';
import { byNewest, matchesFlag } from '../../server/shared/flag-query.js';
import type { CaptureInfo, FeedMessage, RuleView } from '../../server/shared/wire.js';
import { api } from './api.js';
import { createCaptures } from './captures.js';
import { createChart } from './charts.js';
import { MAX_FLAG_ROWS } from './config.js';
import { createDrilldown } from './drilldown.js';
import { byId } from './dom.js';
import { connectFeed, type FeedStatus } from './feed.js';
import { filterQuery, flagMatch, isEmpty, NO_FILTER, type FlagFilter } from './flag-filter.js';
import { createFilters } from './filters.js';
import { formatBytes } from './format.js';
import { createFlags } from './flags.js';
import { createHosts } from './hosts.js';
import { createLosses } from './losses.js';
import { createObjects, type ObjectsQuery } from './objects.js';
import { createReplay } from './replay.js';
import { lostSeries, statsToSeries } from './series.js';
import { createStatus } from './status.js';
import { Store } from './store.js';

const store = new Store();
let filter: FlagFilter = NO_FILTER;
let paused = false;
let rules: RuleView[] = [];
const dirty = { hosts: true, stats: true, flags: true, losses: true };
let frame = 0;
let lastFeedStatus: FeedStatus = { state: 'connecting' };
let filtering: AbortController | null = null;
let detailReq: AbortController | null = null;
let objectsReq: AbortController | null = null;

const problems = byId('problems');
function problem(what: string, err: unknown): void {
  problems.hidden = false;
  problems.textContent = `${what}: ${err instanceof Error ? err.message : String(err)}`;
}

const status = createStatus(byId('status'), (p) => {
  paused = p;
  if (!p && !feed.requestSnapshot()) {
    // Not connected: the reconnect brings a snapshot anyway.
  }
});
const hosts = createHosts(byId('hosts'), byId('replay-banner'), (host) => {
  filters.setChoices({ hosts: [host], kinds: [], rules: [] });
  const sel = document.querySelector<HTMLSelectElement>('[data-testid="filter-host"]');
  if (sel) {
    sel.value = sel.value === host ? '' : host;
    sel.dispatchEvent(new Event('change'));
  }
});
const filters = createFilters(byId('filters'), (f) => {
  filter = f;
  dirty.flags = dirty.stats = dirty.losses = dirty.hosts = true;
  schedule();
  fetchFiltered(f);
});
const rateChart = createChart(byId<HTMLCanvasElement>('chart-rate'), 'events / s');
const liveChart = createChart(byId<HTMLCanvasElement>('chart-live'), 'live objects');
const losses = createLosses(byId('losses'));
const flags = createFlags(byId('flags'), openFlag);
const drill = createDrilldown(byId('drilldown'), {
  close() {
    drill.hide();
    flags.select(null);
  },
  explore(addr, host, kind) {
    drill.hide();
    flags.select(null);
    objects.search({ addr, host, kind });
  },
});
const objects = createObjects(byId('objects'), searchObjects);
// Replay commands answer the new state; the bar shows it at once (the next stats message agrees).
const replay = createReplay(byId('replay'), (host, c) => api.replayCommand(host, c));
const captures = createCaptures(
  byId('captures'),
  {
    record: (host, name) =>
      act(api.record(host, name), (r) =>
        r.recording.length === 0
          ? 'nothing to record (already recording, or no streaming host)'
          : `recording ${r.recording.map((x) => `${x.host} into ${x.name}`).join(', ')}`,
      ),
    stop: (host) =>
      act(api.stopRecording(host), (r) => (r.stopped.length === 0 ? 'nothing was being recorded' : `saved ${r.stopped.join(', ')}`)),
    replay: (name) => act(api.replay(name), (r) => `replaying ${name} as host ${r.host}`),
    remove: (name) => act(api.removeCapture(name), () => `deleted ${name}`),
    upload: (files) => {
      const bad = files.filter((f) => !CAPTURE_NAME.re.test(f.name) || f.name.includes('..'));
      if (bad.length > 0) {
        captures.message(`not uploaded: ${bad.map((f) => f.name).join(', ')}: ${CAPTURE_NAME.says}`, 'error');
        return;
      }
      // One after the other: the last message says how the whole upload went.
      const done: string[] = [];
      const chain = files.reduce<Promise<unknown>>(
        (p, f) => p.then(() => api.uploadCapture(f.name, f).then((c) => done.push(c.name))),
        Promise.resolve(),
      );
      act(
        chain,
        () => `uploaded ${done.join(', ')}`,
        (msg) => `${done.length > 0 ? `uploaded ${done.join(', ')}; ` : ''}upload failed: ${msg}`,
      );
    },
    refresh: () => listCaptures(),
    saveRange: (host, run, req) => {
      if (!CAPTURE_NAME.re.test(req.name) || req.name.includes('..')) {
        captures.message(`not saved: ${CAPTURE_NAME.says}`, 'error');
        return;
      }
      act(api.saveStreamRange(host, run, req), (c) => `saved ${c.name} from ${host}'s stream (${formatBytes(c.bytes)})`);
    },
  },
  api.captureUrl,
  api.streamCaptureUrl,
);
let capturesKey: string | undefined;
let capturesReq = 0;

const feed = connectFeed(onFeed, (s) => {
  lastFeedStatus = s;
  dirty.hosts = true;
  schedule();
});

/** Runs a library action, reports it in the captures panel, and lists the library again. */
function act<T>(p: Promise<T>, ok: (r: T) => string, failed: (msg: string) => string = (m) => m): void {
  p.then(
    (r) => captures.message(ok(r), 'ok'),
    (err: unknown) => captures.message(failed(err instanceof Error ? err.message : String(err)), 'error'),
  ).finally(() => listCaptures());
}

/** Lists the library and the fleet stream's runs (the newest request wins). */
function listCaptures(): void {
  const n = ++capturesReq;
  api.captures().then(
    (list: CaptureInfo[]) => {
      if (n === capturesReq) captures.setCaptures(list);
    },
    (err: unknown) => {
      if (n === capturesReq) captures.message(`capture library: ${err instanceof Error ? err.message : String(err)}`, 'error');
    },
  );
  api.streams().then(
    (runs) => {
      if (n === capturesReq) captures.setStreams(runs);
    },
    (err: unknown) => {
      if (n === capturesReq) captures.message(`fleet stream: ${err instanceof Error ? err.message : String(err)}`, 'error');
    },
  );
}

function onFeed(msg: FeedMessage): void {
  if (paused) return;
  const changed = store.apply(msg);
  for (const k of ['hosts', 'stats', 'flags', 'losses'] as const) dirty[k] ||= changed[k];
  schedule();
}

function schedule(): void {
  if (frame === 0) frame = requestAnimationFrame(draw);
}

function draw(): void {
  frame = 0;
  const hostList = [...store.hosts.values()];
  if (dirty.hosts) {
    hosts.render(hostList, filter.host);
    status.setFeed(lastFeedStatus, feed.bad);
    replay.render(hostList);
    captures.setHosts(hostList);
    // A recording started or stopped (here, in another browser, or by a failure): list the library again.
    const key = JSON.stringify(hostList.map((v) => [v.host, v.recording?.name ?? null, v.recording?.error ?? null]).sort());
    if (key !== capturesKey) {
      capturesKey = key;
      listCaptures();
    }
  }
  if (dirty.stats) {
    const points = store.pointsOf(filter.host);
    rateChart.update(statsToSeries(points, 'rate'), { label: 'lost', data: lostSeries(points) });
    const kind = filter.kind;
    liveChart.update(statsToSeries(points, 'live', kind === null ? null : (k) => k === kind));
  }
  if (dirty.losses || dirty.hosts) losses.render(hostList, store.losses, filter.host);
  if (dirty.flags) {
    const match = flagMatch(filter);
    const shown = [...store.flags.values()].filter((f) => matchesFlag(match, f)).sort(byNewest);
    const evicted = store.evictedFlags > 0 ? `(${store.evictedFlags} older flags only on the server)` : '';
    flags.render(shown, store.flags.size, evicted);
  }
  if (dirty.hosts || dirty.flags) {
    const hostNames = hostList.map((v) => v.host);
    const kinds = store.kinds();
    filters.setChoices({
      hosts: hostNames,
      kinds,
      rules: [...new Set([...rules.map((r) => r.id), ...[...store.flags.values()].map((f) => f.rule)])],
    });
    objects.setChoices(hostNames, kinds);
  }
  dirty.hosts = dirty.stats = dirty.flags = dirty.losses = false;
}

/** The page only holds recent flags: a filter also asks the server, which keeps them all. */
function fetchFiltered(f: FlagFilter): void {
  filtering?.abort();
  filtering = null;
  if (isEmpty(f) || paused) return;
  const ctl = (filtering = new AbortController());
  api.flags(filterQuery(f, MAX_FLAG_ROWS), ctl.signal).then(
    (found) => {
      if (ctl.signal.aborted || paused) return;
      store.addFlags(found);
      dirty.flags = true;
      schedule();
    },
    (err: unknown) => {
      if (!ctl.signal.aborted) problem('filtered flags', err);
    },
  );
}

function openFlag(id: string): void {
  detailReq?.abort();
  const ctl = (detailReq = new AbortController());
  flags.select(id);
  drill.loading(id);
  api.flag(id, ctl.signal).then(
    (d) => drill.show(d),
    (err: unknown) => {
      if (!ctl.signal.aborted) drill.error(id, err instanceof Error ? err.message : String(err));
    },
  );
}

function searchObjects(q: ObjectsQuery): void {
  objectsReq?.abort();
  const ctl = (objectsReq = new AbortController());
  objects.loading(q);
  api.objects(q.addr, q.host, q.kind, ctl.signal).then(
    (found) => objects.show(q, found),
    (err: unknown) => {
      if (!ctl.signal.aborted) objects.error(err instanceof Error ? err.message : String(err));
    },
  );
}

api.rules().then(
  (r) => {
    rules = r;
    dirty.flags = true;
    schedule();
  },
  (err: unknown) => problem('rules', err),
);

schedule();

// A fleet dashboard says where its hosts come from, and whether it reaches the broker (polled: the
// feed is about the hosts, not the server).
const FLEET_POLL_MS = 5000;
function pollFleet(): void {
  api.server().then(
    (v) => {
      status.setFleet(v.fleet);
      if (v.fleet !== null) setTimeout(pollFleet, FLEET_POLL_MS);
    },
    () => setTimeout(pollFleet, FLEET_POLL_MS),
  );
}
pollFleet();
