/**
 * Constants of the dashboard. The first ones are copied from server/shared/wire.ts (the browser
 * never loads server code, only its types); keep them in step with that file.
 */

/** wire.ts FEED_PATH: the browser feed socket. */
export const FEED_PATH = '/ws/feed';
/** wire.ts STATS_INTERVAL_MS: one StatsPoint per host per interval. */
export const STATS_INTERVAL_MS = 500;
/** wire.ts SEVERITY_LEVELS, lowest first. */
export const SEVERITY_LEVELS = ['info', 'warning', 'error'] as const;

/** Chart window: the last 120 intervals (one minute at 500 ms). */
export const CHART_WINDOW = 120;
/** Flag rows kept in the DOM; the rest are counted as hidden (the server keeps the history). */
export const MAX_FLAG_ROWS = 2000;
/** Flags remembered by the page; the oldest (by the wall time the server raised them) go first. */
export const MAX_FLAGS_KEPT = 20_000;
/** Loss marks remembered per host. */
export const MAX_LOSSES_PER_HOST = 500;
/** Feed reconnection backoff. */
export const RECONNECT_MIN_MS = 250;
export const RECONNECT_MAX_MS = 5000;
/**
 * A capture name the server accepts (server/live/captures.ts NAME; keep in step): checked before an
 * upload, so a wrong name is said at once instead of after sending the file.
 */
export const CAPTURE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.ljsonl(\.gz)?$/;
