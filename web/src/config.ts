/**
 * Constants of the dashboard alone. What it shares with the server (the feed path, the stats
 * interval, severities, the capture name pattern) it imports from server/shared/.
 */

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
