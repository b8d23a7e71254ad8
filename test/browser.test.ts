/**
 * The dashboard in a real browser (Debian's chromium through playwright-core) against a real
 * `lifetrace serve` process fed by real `lifetrace agent --replay` processes over real sockets.
 * Full-page screenshots at 1366x768 go to test-results/screenshots/.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeFile } from '../server/analyze/pipeline.js';
import type { CaptureInfo, FlagDetail, FlagSummary, HostView, ObjectHistory, ReplayView } from '../server/shared/wire.js';
import {
  buildWeb,
  fixtureCapture,
  launchBrowser,
  openDashboard,
  SAMPLE,
  SCREENSHOTS,
  screenshot,
  startReplay,
  startServer,
  traceCapture,
  until,
  type OpenPage,
  type Server,
} from './support/browser.js';

let browser: Browser;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  buildWeb();
  browser = await launchBrowser();
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

afterAll(async () => {
  await browser?.close();
});

async function serve(): Promise<Server> {
  const s = await startServer();
  cleanups.push(() => s.stop());
  return s;
}

async function dashboard(s: { url: string }): Promise<OpenPage> {
  const p = await openDashboard(browser, s.url);
  cleanups.push(() => p.close());
  await p.page.getByTestId('feed-status').and(p.page.locator('[data-state="open"]')).waitFor();
  return p;
}

const rows = (page: Page) => page.getByTestId('flag-row');
const rowAttrs = (page: Page, attr: string) => rows(page).evaluateAll((els, a) => els.map((e) => e.getAttribute(a) ?? ''), attr);

/** The chart's labels and data as chart.js holds them (the UMD global Chart of the page). */
function chartData(page: Page, testid: string) {
  return page.evaluate((id) => {
    const canvas = document.querySelector(`[data-testid="${id}"]`) as HTMLCanvasElement;
    const chart = (
      window as unknown as {
        Chart: { getChart(c: HTMLCanvasElement): { data: { labels: string[]; datasets: { label: string; data: number[] }[] } } };
      }
    ).Chart.getChart(canvas);
    return { labels: [...chart.data.labels], datasets: chart.data.datasets.map((d) => ({ label: d.label, data: [...d.data] })) };
  }, testid);
}

const hostsDone = (s: Server, n: number) =>
  until(`${n} ended host(s)`, async () => {
    const hosts = await s.api<HostView[]>('/api/hosts');
    return hosts.length >= n && hosts.every((h) => h.ended) ? hosts : undefined;
  });

describe('dashboard in a browser', () => {
  it('loads without console errors and labels a replay as a replay', async () => {
    const s = await serve();
    const { page, errors } = await dashboard(s);
    await expect(page.getByTestId('no-hosts').textContent()).resolves.toMatch(/No host/);
    s.agent(SAMPLE, { host: 'guest-61', speed: 'max' });
    await hostsDone(s, 1);
    const card = page.getByTestId('host-status').and(page.locator('[data-host="guest-61"]'));
    await card.and(page.locator('[data-state="ended"]')).waitFor();
    await expect(card.getAttribute('data-mode')).resolves.toBe('replay');
    await expect(card.textContent()).resolves.toContain('6.1.0-56-amd64');
    const label = page.getByTestId('replay-label');
    await label.waitFor();
    await expect(label.textContent()).resolves.toContain('sample.ljsonl.gz');
    await expect(page.getByTestId('replay-banner').isVisible()).resolves.toBe(true);
    await expect(page.getByTestId('replay-banner').textContent()).resolves.toMatch(/REPLAY/);
    const flags = await s.api<FlagSummary[]>('/api/flags?limit=100');
    expect(flags.length).toBeGreaterThan(0);
    await until('every flag listed', async () => (await rows(page).count()) === flags.length);
    // Times in s with ms precision; addresses as 0x...
    const times = await page.getByTestId('flag-time').allTextContents();
    for (const t of times) expect(t).toMatch(/^\d+\.\d{3} s$/);
    await screenshot(page, 'loaded-replay');
    expect(errors).toEqual([]);
  });

  it('charts move while an agent streams', async () => {
    const s = await serve();
    const { page, errors } = await dashboard(s);
    s.agent(SAMPLE, { host: 'streaming', speed: '1', loop: true });
    await page.getByTestId('host-status').and(page.locator('[data-state="connected"]')).waitFor();
    // Wait for real activity to reach the chart, then sample it twice.
    const first = await until('events in the rate chart', async () => {
      const d = await chartData(page, 'chart-rate');
      return d.datasets.some((x) => x.data.some((v) => v > 0)) ? d : undefined;
    });
    await page.waitForTimeout(1500);
    const second = await chartData(page, 'chart-rate');
    expect(second.labels).not.toEqual(first.labels);
    expect(second.datasets.map((x) => x.data)).not.toEqual(first.datasets.map((x) => x.data));
    expect(second.labels.length).toBeLessThanOrEqual(120);
    expect(second.datasets.map((x) => x.label)).toEqual(expect.arrayContaining(['dcache', 'epoll', 'file']));
    const live = await until('live objects in the chart', async () => {
      const d = await chartData(page, 'chart-live');
      return d.datasets.some((x) => x.data.some((v) => v > 0)) ? d : undefined;
    });
    expect(live.datasets.map((x) => x.label)).toContain('dentry');
    await screenshot(page, 'charts-live');
    expect(errors).toEqual([]);
  });

  it('a flag appears within a second of its evidence reaching the server', async () => {
    // The evidence completes with the ->poll() at 4.002 s, the last record before a 4 s gap; at
    // --speed 1 the agent sends it three seconds after the first ones, in a batch of its own, and
    // the stream stays open (records again at 8 s), so the flag comes from live analysis, not from
    // the end of the stream. From: HostView.lastBatchWall, the server's clock when that batch
    // arrived; to: the page's clock when the row is inserted (a MutationObserver). Same machine,
    // same wall clock.
    const capture = traceCapture(`
      1.000 0 100 app ctl 3 1 5
      1.001 0 100 app ins @ep @epi @dmabuf 5
      1.002 0 100 app ctl_r 3 1 5 0
      4.000 1 300 closer last @dmabuf
      4.001 1 300 closer fput @dmabuf 0 1 @dent
      4.002 0 100 app poll @epi @dmabuf 0
      4.0025 0 100 app tpoll @dmabuf 0 1 "dma_buf_poll"
      8.003 1 300 closer rel @dmabuf
      8.004 1 300 closer rm @ep @epi @dmabuf 5
      8.005 1 300 closer rel_r @dmabuf
      8.006 1 300 closer fput_r @dmabuf
    `);
    const rule = 'epoll.poll-on-dying-file';
    const s = await serve();
    const { page, errors } = await dashboard(s);
    await page.evaluate((r) => {
      const w = window as unknown as { flagSeenAt?: number };
      new MutationObserver((_m, obs) => {
        if (document.querySelector(`[data-testid="flag-row"][data-rule="${r}"]`)) {
          w.flagSeenAt = Date.now();
          obs.disconnect();
        }
      }).observe(document.body, { childList: true, subtree: true });
    }, rule);
    const spawned = Date.now();
    s.agent(capture, { host: 'latency', speed: '1' });
    await rows(page)
      .and(page.locator(`[data-rule="${rule}"]`))
      .waitFor({ timeout: 8000 });
    const seenAt = await page.evaluate(() => (window as unknown as { flagSeenAt: number }).flagSeenAt);
    const host = (await s.api<HostView[]>('/api/hosts')).find((h) => h.host === 'latency')!;
    // Still streaming, and nothing after the ->poll() call has arrived: the last batch is the evidence's.
    expect(host.ended).toBe(false);
    expect(host.events).toBe(7);
    const arrived = host.lastBatchWall!;
    expect(arrived - spawned, 'the evidence left the agent about 3 s after the first records').toBeGreaterThan(2900);
    const latency = seenAt - arrived;
    expect(latency).toBeGreaterThanOrEqual(0);
    expect(latency, `flag row ${latency} ms after its evidence reached the server`).toBeLessThan(1000);
    await screenshot(page, 'flag-latency');
    expect(errors).toEqual([]);
  });

  it('the drill-down shows the evidence in order, the explanation, the thread and the lifetimes', async () => {
    const s = await serve();
    const { page, errors } = await dashboard(s);
    s.agent(fixtureCapture('epoll-poll-on-dying-file.trace'), { host: 'drill', speed: 'max' });
    await hostsDone(s, 1);
    const [flag] = await s.api<FlagSummary[]>('/api/flags?rule=epoll.poll-on-dying-file');
    expect(flag).toBeDefined();
    const detail = await s.api<FlagDetail>(`/api/flags/${encodeURIComponent(flag!.id)}`);
    const rules = await s.api<{ id: string; explanation: string; title: string }[]>('/api/rules');
    const rule = rules.find((r) => r.id === flag!.rule)!;

    await rows(page)
      .and(page.locator(`[data-id="${flag!.id}"]`))
      .click();
    const drill = page.getByTestId('drilldown');
    await drill.getByTestId('evidence-row').first().waitFor();
    await expect(drill.getByTestId('drilldown-rule').textContent()).resolves.toBe('epoll.poll-on-dying-file');
    await expect(drill.getByTestId('drilldown-title').textContent()).resolves.toBe(rule.title);
    await expect(drill.getByTestId('drilldown-explanation').textContent()).resolves.toBe(rule.explanation);
    await expect(drill.getByTestId('drilldown-thread').textContent()).resolves.toMatch(/^001: /);
    await expect(drill.getByTestId('drilldown-confidence').textContent()).resolves.toBe('certain');
    // Evidence rows: the server's chain, in order, times in s with ms precision.
    const fns = await drill.getByTestId('evidence-fn').allTextContents();
    expect(fns).toEqual(detail.evidence.map((e) => e.fn));
    expect(fns.length).toBeGreaterThanOrEqual(2);
    const times = (await drill.getByTestId('evidence-time').allTextContents()).map((t) => Number(t.replace(' s', '')));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    for (const t of await drill.getByTestId('evidence-time').allTextContents()) expect(t).toMatch(/^\d+\.\d{3} s$/);
    // Lifetimes: one lane per generation of the flag's objects, evidence as numbered marks.
    const lanes = detail.objects.reduce((n, o) => n + o.lifetimes.length, 0);
    expect(lanes).toBeGreaterThan(0);
    await expect(drill.getByTestId('timeline-lane').count()).resolves.toBe(lanes);
    await expect(drill.getByTestId('timeline-mark').count()).resolves.toBe(detail.evidence.length);
    expect(await drill.getByTestId('timeline-phase').count()).toBeGreaterThan(0);
    for (const a of await drill.getByTestId('explore-addr').allTextContents()) expect(a).toMatch(/^0x[0-9a-f]+$/);
    await screenshot(page, 'drilldown');
    await drill.getByTestId('drilldown-close').click();
    await expect(drill.isHidden()).resolves.toBe(true);
    expect(errors).toEqual([]);
  });

  it('each evidence step folds its kernel stack: frames innermost first, said so where the kernel gave none', async () => {
    const s = await serve();
    const { page, errors } = await dashboard(s);
    const path = traceCapture(`
      1.000 0 100 app ctl 3 1 5 ^do_epoll_ctl+1,__x64_sys_epoll_ctl+120,do_syscall_64+56
      1.001 0 100 app ins @ep @epi @dmabuf 5 ^ep_ptable_queue_proc+1,pipe_poll+80,do_epoll_ctl+900
      1.002 0 100 app ctl_r 3 1 5 0 ^return:__x64_sys_epoll_ctl+120,do_syscall_64+56
      2.000 1 300 closer last @dmabuf ^fput+1,filp_close+60,__x64_sys_close+30
      2.001 1 300 closer fput @dmabuf 0 1 @dent ^
      2.002 0 100 app poll @epi @dmabuf 0 ^ep_item_poll.isra.0+1,ep_send_events+250,do_epoll_wait+1200
      2.0025 0 100 app tpoll @dmabuf 0 1 "dma_buf_poll" ^dma_buf_poll+1,ep_item_poll.isra.0+45,ep_send_events+250,do_epoll_wait+1200
      2.003 1 300 closer rel @dmabuf ^
      2.004 1 300 closer rm @ep @epi @dmabuf 5 ^ep_remove+1,eventpoll_release_file+70,__fput+500
      2.005 1 300 closer rel_r @dmabuf ^return:__fput+500,task_work_run+90
      2.006 1 300 closer fput_r @dmabuf ^return:task_work_run+90,exit_to_user_mode_prepare+200
    `);
    s.agent(path, { host: 'stacks', speed: 'max' });
    await hostsDone(s, 1);
    const [flag] = await s.api<FlagSummary[]>('/api/flags?rule=epoll.poll-on-dying-file');
    expect(flag).toBeDefined();
    const detail = await s.api<FlagDetail>(`/api/flags/${encodeURIComponent(flag!.id)}`);
    const poll = detail.evidence.findIndex((e) => e.event === 'ep.poll');
    expect(detail.evidence[poll]!.stack).toEqual(['ep_item_poll.isra.0+1', 'ep_send_events+250', 'do_epoll_wait+1200']);

    await rows(page)
      .and(page.locator(`[data-id="${flag!.id}"]`))
      .click();
    const drill = page.getByTestId('drilldown');
    await drill.getByTestId('evidence-row').first().waitFor();
    const stacks = drill.getByTestId('evidence-stack');
    await expect(stacks.count()).resolves.toBe(detail.evidence.length);
    const row = drill.getByTestId('evidence-row').nth(poll);
    const folded = row.getByTestId('evidence-stack');
    await expect(folded.locator('summary').textContent()).resolves.toBe('kernel stack (3 frames)');
    await expect(row.getByTestId('stack-frame').first().isVisible()).resolves.toBe(false);
    await folded.locator('summary').click();
    await expect(row.getByTestId('stack-frame').allTextContents()).resolves.toEqual([
      'ep_item_poll.isra.0+1',
      'ep_send_events+250',
      'do_epoll_wait+1200',
    ]);
    await expect(row.getByTestId('stack-frame').first().isVisible()).resolves.toBe(true);
    const summaries = await stacks.evaluateAll((els) => els.map((e) => (e.querySelector('summary') ?? e).textContent));
    for (const [i, e] of detail.evidence.entries()) {
      const where = e.stack_at === 'return' ? ' at the return' : '';
      expect(summaries[i]).toBe(
        e.stack!.length === 0 ? `kernel stack${where}: unavailable` : `kernel stack${where} (${e.stack!.length} frames)`,
      );
    }
    expect(summaries).toContain('kernel stack: unavailable');
    await screenshot(page, 'drilldown-stack');
    expect(errors).toEqual([]);
  });

  it("the drill-down says whether this kernel carries the rule's fix, and how lifetrace decided it", async () => {
    const s = await serve();
    const { page, errors } = await dashboard(s);
    // The capture header says the kernel carries d4f4de5e5ef8 (as capture writes it from the kernel's symbols).
    s.agent(fixtureCapture('dcache-readdir-vs-delete-guarded.trace'), { host: 'guarded', speed: 'max' });
    await hostsDone(s, 1);
    const [flag] = await s.api<FlagSummary[]>('/api/flags?rule=dcache.readdir-vs-delete');
    expect(flag).toMatchObject({ severity: 'info' });
    const detail = await s.api<FlagDetail>(`/api/flags/${encodeURIComponent(flag!.id)}`);
    expect(detail.guard).toEqual({
      fix: 'd4f4de5e5ef8 (Fix the locking in dcache_readdir() and friends, v5.4)',
      state: 'yes',
      how: 'fixture: d4f4de5e5ef8 yes',
    });

    await rows(page)
      .and(page.locator(`[data-id="${flag!.id}"]`))
      .click();
    const drill = page.getByTestId('drilldown');
    await drill.getByTestId('drilldown-guard').waitFor();
    await expect(drill.getByTestId('drilldown-guard-fix').textContent()).resolves.toBe(detail.guard!.fix);
    await expect(drill.getByTestId('drilldown-guard-state').textContent()).resolves.toBe('yes');
    await expect(drill.getByTestId('drilldown-guard-how').textContent()).resolves.toBe('(fixture: d4f4de5e5ef8 yes)');
    await expect(drill.getByTestId('drilldown-guard').textContent()).resolves.toBe(
      'Guarded on this kernel?guarded by d4f4de5e5ef8 (Fix the locking in dcache_readdir() and friends, v5.4): yes (fixture: d4f4de5e5ef8 yes)',
    );
    await screenshot(page, 'drilldown-guard');
    expect(errors).toEqual([]);
  });

  it('shows lost events, where they happened, and the uncertain flag they make', async () => {
    const s = await serve();
    const { page, errors } = await dashboard(s);
    s.agent(fixtureCapture('epoll-cross-process-del-lost.trace'), { host: 'lossy', speed: 'max' });
    await hostsDone(s, 1);
    await page.getByTestId('loss-mark').waitFor({ state: 'attached' });
    await expect(page.getByTestId('host-lost').textContent()).resolves.toBe('42 lost');
    await expect(page.getByTestId('losses').textContent()).resolves.toMatch(/42 lost in 1 window/);
    await rows(page).first().click();
    const why = page.getByTestId('drilldown-uncertainty');
    await why.waitFor();
    await expect(page.getByTestId('drilldown-confidence').textContent()).resolves.toBe('uncertain');
    expect((await why.textContent())!.length).toBeGreaterThan(20);
    await screenshot(page, 'losses-uncertain');
    expect(errors).toEqual([]);
  });

  it('a full journal disk: the host card says journaling stopped and why; the live view goes on (issue 11, finding 5)', async () => {
    const s = await serve();
    const data = s.child.spawnargs[s.child.spawnargs.indexOf('--data') + 1]!;
    const journal = join(data, 'journal');
    mkdirSync(journal, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', journal]); // a real, small, full disk
    cleanups.push(async () => {
      execFileSync('umount', ['-l', journal]);
    }); // lazy: the server (stopped after) may hold it
    const { page, errors } = await dashboard(s);
    s.agent(SAMPLE, { host: 'fulldisk', speed: '1' });
    const badge = page.getByTestId('journal-error');
    await badge.waitFor();
    await expect(badge.textContent()).resolves.toMatch(/journaling stopped: ENOSPC: the disk is full/);
    await screenshot(page, 'journal-disk-full');
    const [h] = await hostsDone(s, 1);
    expect(h!.events).toBe((await analyzeFile(SAMPLE)).events); // the live view went on: the whole sample
    expect(errors).toEqual([]);
  });

  it('filters by severity, rule, pid or comm, and host (two agents)', async () => {
    const s = await serve();
    const { page, errors } = await dashboard(s);
    s.agent(SAMPLE, { host: 'alpha', speed: 'max' });
    s.agent(fixtureCapture('epoll-poll-on-dying-file.trace'), { host: 'beta', speed: 'max' });
    await hostsDone(s, 2);
    const all = await s.api<FlagSummary[]>('/api/flags?limit=1000');
    expect(new Set(all.map((f) => f.host))).toEqual(new Set(['alpha', 'beta']));
    await until('all flags listed', async () => (await rows(page).count()) === all.length);

    // Severity (at or above, as the API): error only hides the warnings and infos.
    await page.getByTestId('filter-severity').selectOption('error');
    const errorsOnly = all.filter((f) => f.severity === 'error');
    expect(errorsOnly.length).toBeGreaterThan(0);
    expect(errorsOnly.length).toBeLessThan(all.length);
    await until('error rows only', async () => (await rows(page).count()) === errorsOnly.length);
    expect(new Set(await rowAttrs(page, 'data-severity'))).toEqual(new Set(['error']));
    await page.getByTestId('filter-severity').selectOption('warning');
    const warnUp = all.filter((f) => f.severity !== 'info');
    await until('warning and error rows', async () => (await rows(page).count()) === warnUp.length);
    await page.getByTestId('filter-clear').click();

    // Rule.
    await page.getByTestId('filter-rule').selectOption('epoll.stale-fd');
    const stale = all.filter((f) => f.rule === 'epoll.stale-fd');
    await until('stale-fd rows only', async () => (await rows(page).count()) === stale.length);
    expect(new Set(await rowAttrs(page, 'data-rule'))).toEqual(new Set(['epoll.stale-fd']));
    await page.getByTestId('filter-clear').click();

    // pid, then comm.
    const somePid = all.find((f) => f.host === 'alpha')!.pids[0]!;
    await page.getByTestId('filter-task').fill(String(somePid));
    const byPid = all.filter((f) => f.pids.includes(somePid));
    await until('rows of one pid', async () => (await rows(page).count()) === byPid.length);
    await page.getByTestId('filter-task').fill('lt-fan');
    const byComm = all.filter((f) => f.comms.some((c) => c.includes('lt-fan')));
    expect(byComm.length).toBeGreaterThan(0);
    await until('rows of lt-fan* tasks', async () => (await rows(page).count()) === byComm.length);
    await page.getByTestId('filter-clear').click();

    // Host: beta's flags only, and the other way round; the charts follow the host too.
    await page.getByTestId('filter-host').selectOption('beta');
    const beta = all.filter((f) => f.host === 'beta');
    await until('beta rows only', async () => (await rows(page).count()) === beta.length);
    expect(new Set(await rowAttrs(page, 'data-host'))).toEqual(new Set(['beta']));
    await screenshot(page, 'filter-host-beta');
    await page.getByTestId('filter-host').selectOption('alpha');
    await until('alpha rows only', async () => (await rows(page).count()) === all.length - beta.length);
    expect(new Set(await rowAttrs(page, 'data-host'))).toEqual(new Set(['alpha']));

    // Kind.
    await page.getByTestId('filter-clear').click();
    await page.getByTestId('filter-kind').selectOption('mark');
    const marks = all.filter((f) => f.kinds.includes('mark'));
    expect(marks.length).toBeGreaterThan(0);
    await until('mark rows only', async () => (await rows(page).count()) === marks.length);
    expect(errors).toEqual([]);
  });

  it('pause freezes the view; resume catches up from a fresh snapshot', async () => {
    const s = await serve();
    const { page, errors } = await dashboard(s);
    s.agent(SAMPLE, { host: 'paced', speed: '1' });
    await page.getByTestId('host-status').and(page.locator('[data-state="connected"]')).waitFor();
    await page.getByTestId('pause-button').click();
    await expect(page.getByTestId('pause-button').getAttribute('aria-pressed')).resolves.toBe('true');
    const frozen = {
      rows: await rows(page).count(),
      chart: await chartData(page, 'chart-rate'),
      host: await page.getByTestId('host-status').textContent(),
    };
    // The server moves on meanwhile (the sample has flags all along its 6.4 s).
    await until(
      'the server to have more flags than the frozen view',
      async () => (await s.api<FlagSummary[]>('/api/flags')).length > frozen.rows,
      20_000,
    );
    await page.waitForTimeout(700);
    expect(await rows(page).count()).toBe(frozen.rows);
    expect(await chartData(page, 'chart-rate')).toEqual(frozen.chart);
    expect(await page.getByTestId('host-status').textContent()).toBe(frozen.host);
    await screenshot(page, 'paused');

    await page.getByTestId('pause-button').click();
    await expect(page.getByTestId('pause-button').getAttribute('aria-pressed')).resolves.toBe('false');
    const now = await s.api<FlagSummary[]>('/api/flags');
    await until('the flags the server had at resume', async () => (await rows(page).count()) >= now.length, 3000);
    expect(await chartData(page, 'chart-rate')).not.toEqual(frozen.chart);
    await hostsDone(s, 1);
    const final = await s.api<FlagSummary[]>('/api/flags');
    await until('every flag after the stream ends', async () => (await rows(page).count()) === final.length);
    expect(errors).toEqual([]);
  });

  it('keeps at most 2000 flag rows in the DOM and counts the others', async () => {
    // 1000 epitems, each added by one process and removed by its fork: 1000 flags (the most one
    // rule keeps), from each of three hosts.
    const n = 1000;
    const lines = ['1.000 0 100 server fdi 3 @epfile', '1.500 0 100 server fork 200'];
    for (let i = 0; i < n; i++) {
      const t = 2 + i * 0.0001;
      lines.push(
        `${t.toFixed(4)} 0 100 server fdi ${i + 5} @pipe${i}`,
        `${(t + 0.00001).toFixed(5)} 0 100 server ctl 3 1 ${i + 5}`,
        `${(t + 0.00002).toFixed(5)} 0 100 server ins @ep @epi${i} @pipe${i} ${i + 5}`,
        `${(t + 0.00003).toFixed(5)} 0 100 server ctl_r 3 1 ${i + 5} 0`,
      );
    }
    for (let i = 0; i < n; i++) {
      const t = 3 + i * 0.0001;
      lines.push(
        `${t.toFixed(4)} 1 200 worker ctl 3 2 ${i + 5}`,
        `${(t + 0.00001).toFixed(5)} 1 200 worker rm @ep @epi${i} @pipe${i} ${i + 5}`,
        `${(t + 0.00002).toFixed(5)} 1 200 worker ctl_r 3 2 ${i + 5} 0`,
      );
    }
    const s = await serve();
    const { page, errors } = await dashboard(s);
    const capture = traceCapture(lines.join('\n'));
    for (const host of ['many-a', 'many-b', 'many-c']) s.agent(capture, { host, speed: 'max' });
    await hostsDone(s, 3);
    const flags = await s.api<FlagSummary[]>('/api/flags?limit=10000');
    expect(flags.length).toBe(3 * n);
    await until('the count of hidden flags', async () => (await page.getByTestId('flags-hidden').textContent())?.startsWith('1,000 more'));
    expect(await rows(page).count()).toBe(2000);
    await expect(page.getByTestId('flags-count').textContent()).resolves.toMatch(/^3,000 of 3,000 flags/);
    // Narrowing the filter brings all it matches into view.
    await page.getByTestId('filter-host').selectOption('many-b');
    await until('all rows of one host', async () => (await rows(page).count()) === n);
    await expect(page.getByTestId('flags-hidden').isHidden()).resolves.toBe(true);
    await screenshot(page, 'many-flags');
    expect(errors).toEqual([]);
  });

  it('reconnects when the server goes away and takes the new snapshot', async () => {
    const s = await serve();
    const { page } = await dashboard(s);
    s.agent(fixtureCapture('epoll-stale-fd.trace'), { host: 'before', speed: 'max' });
    await rows(page).first().waitFor();
    await s.stop();
    const feed = page.getByTestId('feed-status');
    await feed.and(page.locator('[data-state="closed"]')).waitFor();
    await expect(feed.textContent()).resolves.toMatch(/retrying/);
    // A new server on the same port: the page reconnects and shows only what that one has.
    const again = await startServer(Number(new URL(s.url).port));
    cleanups.push(() => again.stop());
    await feed.and(page.locator('[data-state="open"]')).waitFor({ timeout: 10_000 });
    await until(
      'the old host and flags gone',
      async () => (await rows(page).count()) === 0 && (await page.getByTestId('host-status').count()) === 0,
    );
    again.agent(fixtureCapture('epoll-poll-on-dying-file.trace'), { host: 'after', speed: 'max' });
    await rows(page).and(page.locator('[data-host="after"]')).first().waitFor();
    await expect(page.getByTestId('host-status').getAttribute('data-host')).resolves.toBe('after');
  });

  it('the objects explorer finds an address from a flag, and one typed in', async () => {
    const s = await serve();
    const { page, errors } = await dashboard(s);
    s.agent(fixtureCapture('epoll-stale-fd.trace'), { host: 'objs', speed: 'max' });
    await hostsDone(s, 1);
    const [flag] = await s.api<FlagSummary[]>('/api/flags?rule=epoll.stale-fd');
    await rows(page)
      .and(page.locator(`[data-id="${flag!.id}"]`))
      .click();
    const link = page.getByTestId('drilldown').getByTestId('explore-addr').first();
    await link.waitFor();
    const addr = (await link.textContent())!;
    expect(addr).toMatch(/^0x[0-9a-f]+$/);
    await link.click();
    const results = page.getByTestId('objects-results');
    const history = results.getByTestId('object-history').first();
    await history.waitFor();
    await expect(history.getAttribute('data-addr')).resolves.toBe(addr);
    const expected = await s.api<ObjectHistory[]>(`/api/objects?addr=${addr}&host=objs`);
    expect(expected.length).toBeGreaterThan(0);
    await expect(results.getByTestId('lifetime-row').count()).resolves.toBe(expected.reduce((n, o) => n + o.lifetimes.length, 0));
    await expect(results.getByTestId('timeline-lane').count()).resolves.toBe(expected.reduce((n, o) => n + o.lifetimes.length, 0));
    await screenshot(page, 'objects-from-flag');

    // Typed without 0x and in capitals; any host, any kind.
    await page.getByTestId('objects-host').selectOption('');
    await page.getByTestId('objects-kind').selectOption('');
    await page.getByTestId('objects-input').fill(addr.slice(2).toUpperCase());
    await page.getByTestId('objects-search').click();
    await until(
      'results for the typed address',
      async () =>
        (await results.getByTestId('object-history').count()) > 0 &&
        (await results.getByTestId('object-history').first().getAttribute('data-addr')) === addr,
    );
    await page.getByTestId('objects-input').fill('not-an-address');
    await page.getByTestId('objects-search').click();
    await results.getByTestId('objects-error').waitFor();
    await page.getByTestId('objects-input').fill('0x1234');
    await page.getByTestId('objects-search').click();
    await results.getByTestId('objects-none').waitFor();
    expect(errors).toEqual([]);
  });
});

/** The replay bar's state as the page shows it (data-* attributes of the bar). */
async function barState(page: Page, host: string) {
  const bar = page.getByTestId('replay-bar').and(page.locator(`[data-host="${host}"]`));
  const [state, position, start, end, speed] = await Promise.all(
    ['data-state', 'data-position', 'data-start', 'data-end', 'data-speed'].map((a) => bar.getAttribute(a)),
  );
  return { state: state!, position: Number(position), start: Number(start), end: Number(end), speed: speed! };
}

/** The flag rows of a host, with their kernel times. */
async function flagTimes(page: Page, host: string): Promise<number[]> {
  return rows(page)
    .and(page.locator(`[data-host="${host}"]`))
    .getByTestId('flag-time')
    .evaluateAll((els) => els.map((e) => Number((e.textContent ?? '').replace(' s', ''))));
}

describe('server-side replays and the capture library in a browser', () => {
  it('replay controls: pause holds the position, next flag jumps to it, seeking back resets later flags, max speed finishes', async () => {
    const r = await startReplay(SAMPLE, { speed: '1' });
    cleanups.push(() => r.stop());
    const { page, errors } = await dashboard(r);
    const bar = page.getByTestId('replay-bar').and(page.locator('[data-host="sample"]'));
    await bar.waitFor();
    // Still labelled a replay, and its bar carries the capture's span and a tick per flag time.
    await expect(page.getByTestId('replay-label').textContent()).resolves.toContain('sample: sample.ljsonl.gz');
    const view = (await r.api<HostView[]>('/api/hosts')).find((v) => v.host === 'sample')!.replay!;
    expect(view.flags_s.length).toBeGreaterThan(2);
    await expect(bar.getByTestId('replay-capture').textContent()).resolves.toBe('sample.ljsonl.gz');
    await expect(bar.getByTestId('replay-flag-tick').count()).resolves.toBe(new Set(view.flags_s).size);
    await expect(bar.getByTestId('replay-speed').inputValue()).resolves.toBe('1');

    // Pause: the position stays where it is (on the page and on the server).
    await expect(bar.getByTestId('replay-play').getAttribute('data-action')).resolves.toBe('pause');
    await bar.getByTestId('replay-play').click();
    await bar.and(page.locator('[data-state="paused"]')).waitFor();
    const paused = await barState(page, 'sample');
    expect(paused.position).toBeLessThan(view.end_s);
    await page.waitForTimeout(1200);
    expect((await barState(page, 'sample')).position).toBe(paused.position);
    const server = (await r.api<HostView[]>('/api/hosts'))[0]!.replay!;
    expect(server.position_s).toBe(paused.position);
    expect(server.playing).toBe(false);
    await expect(bar.getByTestId('replay-play').textContent()).resolves.toMatch(/Play/);

    // Next flag, twice: the position reaches the flag's time, and a row of that flag shows.
    const nextFlags: number[] = [];
    for (let i = 0; i < 2; i++) {
      const from = (await barState(page, 'sample')).position;
      const next = view.flags_s.find((t) => t > from + 1e-6)!;
      expect(next).toBeDefined();
      const rowsBefore = (await flagTimes(page, 'sample')).length;
      await bar.getByTestId('replay-next-flag').click();
      await until(`position at the flag at ${next} s`, async () => (await barState(page, 'sample')).position >= next);
      // The flag raised there shows; its own time may be earlier (a permission wait's start).
      let seen: number[] = [];
      await until(`the flag raised at ${next} s in the table (rows before: ${rowsBefore})`, async () => {
        seen = await flagTimes(page, 'sample');
        return seen.length > rowsBefore && seen.every((t) => t <= next + 0.0015);
      }).catch((e: Error) => {
        throw new Error(`${e.message}; rows now at ${seen.join(', ')}`);
      });
      expect((await barState(page, 'sample')).state).toBe('paused');
      nextFlags.push(next);
    }
    const before = await flagTimes(page, 'sample');
    await bar.screenshot({ path: join(SCREENSHOTS, 'replay-bar-paused.png') });

    // Seek back by dragging the handle on the time axis to between the two flags: the analysis
    // starts over and stops there, so flags after the position go.
    const target = (nextFlags[0]! + nextFlags[1]!) / 2;
    const axis = await bar.getByTestId('replay-axis').boundingBox();
    const xAt = (t: number) => axis!.x + axis!.width * ((t - view.start_s) / (view.end_s - view.start_s));
    const y = axis!.y + axis!.height / 2;
    await page.mouse.move(xAt((await barState(page, 'sample')).position), y);
    await page.mouse.down();
    await page.mouse.move(xAt(view.end_s - 0.5), y, { steps: 4 });
    await page.mouse.move(xAt(target), y, { steps: 8 });
    await page.mouse.up();
    const perPixel = (view.end_s - view.start_s) / axis!.width;
    let at = NaN;
    await until('the position back between the flags', async () => {
      at = (await barState(page, 'sample')).position;
      return at < nextFlags[1]! && Math.abs(at - target) <= 2 * perPixel;
    }).catch((e: Error) => {
      throw new Error(`${e.message}: at ${at}, flags at ${nextFlags.join(', ')}, target ${target}, ${perPixel} s a pixel`);
    });
    await until('no flag row after the position', async () => {
      const p = (await barState(page, 'sample')).position;
      const times = await flagTimes(page, 'sample');
      return times.every((t) => t <= p) && times.length < before.length;
    });
    const afterSeek = await r.api<FlagSummary[]>('/api/flags?host=sample&limit=1000');
    await until('the rows the server has', async () => (await flagTimes(page, 'sample')).length === afterSeek.length);
    expect((await barState(page, 'sample')).state).toBe('paused');

    // Seek by a click, forward past the first burst: its flags come back.
    await page.mouse.click(xAt(3.5), y);
    await until('the position at 3.5 s', async () => Math.abs((await barState(page, 'sample')).position - 3.5) <= 2 * perPixel);
    await until(
      'the flags up to 3.5 s',
      async () => (await flagTimes(page, 'sample')).length >= view.flags_s.filter((t) => t <= 3.4).length,
    );

    // Max speed and play: it runs to the end and says it finished, with every flag listed.
    await bar.getByTestId('replay-speed').selectOption('max');
    await until('speed max', async () => (await barState(page, 'sample')).speed === 'max');
    await bar.getByTestId('replay-play').click();
    await bar.and(page.locator('[data-state="finished"]')).waitFor({ timeout: 15_000 });
    const done = await barState(page, 'sample');
    expect(done.position).toBe(view.end_s);
    await expect(bar.getByTestId('replay-state').textContent()).resolves.toBe('finished');
    await expect(bar.getByTestId('replay-play').textContent()).resolves.toMatch(/again/);
    await expect(bar.getByTestId('replay-next-flag').isDisabled()).resolves.toBe(true);
    const all = await r.api<FlagSummary[]>('/api/flags?host=sample&limit=1000');
    await until('every flag of the capture', async () => (await flagTimes(page, 'sample')).length === all.length);
    await page.getByTestId('host-status').and(page.locator('[data-state="ended"]')).waitFor();
    await bar.screenshot({ path: join(SCREENSHOTS, 'replay-bar-finished.png') });
    await screenshot(page, 'replay-finished');

    // Play again starts over from the beginning.
    await bar.getByTestId('replay-play').click();
    await until('playing again from the start', async () => {
      const st = await barState(page, 'sample');
      return st.state !== 'finished' || st.position < view.end_s;
    });
    expect(errors).toEqual([]);
  });

  it("captures panel: record an agent's stream, list, download, replay, delete, upload", async () => {
    const s = await serve();
    const { page, errors } = await dashboard(s);
    const panel = page.getByTestId('captures');
    await panel.getByTestId('record-none').waitFor();
    await expect(panel.getByTestId('captures-empty').isVisible()).resolves.toBe(true);
    // Not --loop: each round of a looping agent is a new run of the host, and the server leaves a
    // recording behind with the run it started on (it cannot be stopped then). At 1x the sample
    // streams for 6.4 s, time enough to start recording it from the page.
    s.agent(SAMPLE, { host: 'rec', speed: '1' });
    const hostRow = panel.getByTestId('record-host').and(page.locator('[data-host="rec"]'));
    await hostRow.waitFor();
    // An agent's replay is labelled but has no controls: the server does not drive it.
    await page.getByTestId('host-status').and(page.locator('[data-host="rec"][data-mode="replay"]')).waitFor();
    await expect(page.getByTestId('replay-bar').count()).resolves.toBe(0);

    // Record this host.
    await hostRow.getByTestId('capture-record').click();
    const nameEl = hostRow.getByTestId('recording-name');
    await nameEl.waitFor();
    const name = (await nameEl.textContent())!;
    expect(name).toMatch(/^rec-.*\.ljsonl\.gz$/);
    await panel
      .getByTestId('captures-message')
      .filter({ hasText: `rec into ${name}` })
      .waitFor();
    await until(
      'recorded bytes',
      async () => (await s.api<HostView[]>('/api/hosts')).find((v) => v.host === 'rec')!.recording!.bytes > 0,
      20_000,
    );
    await until('the size on the page', async () => (await hostRow.getByTestId('recording-bytes').textContent()) !== '0 B');
    // In the library meanwhile, marked as being recorded (and not deletable).
    const row = panel.getByTestId('capture-row').and(page.locator(`[data-name="${name}"]`));
    await row.and(page.locator('[data-recording="true"]')).waitFor();
    await expect(row.getByTestId('capture-recording').isVisible()).resolves.toBe(true);
    await expect(row.getByTestId('capture-delete').isDisabled()).resolves.toBe(true);
    await panel.screenshot({ path: join(SCREENSHOTS, 'captures-recording.png') });

    // Stop: the capture is in the library, complete.
    await hostRow.getByTestId('capture-stop').click();
    await row.and(page.locator('[data-recording="false"]')).waitFor();
    await hostRow.getByTestId('capture-record').waitFor();
    await panel
      .getByTestId('captures-message')
      .filter({ hasText: `saved ${name}` })
      .waitFor();
    const info = (await s.api<CaptureInfo[]>('/api/captures')).find((c) => c.name === name)!;
    expect(info.recording).toBe(false);
    expect(info.bytes).toBeGreaterThan(100);
    await expect(row.getByTestId('capture-recording').isHidden()).resolves.toBe(true);
    await expect(row.getByTestId('capture-time').textContent()).resolves.toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);

    // Download: the link is the capture's URL, the browser saves it under its name, and it is the file.
    const link = row.getByTestId('capture-download');
    await expect(link.getAttribute('href')).resolves.toBe(`/api/captures/${name}`);
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    expect(download.suggestedFilename()).toBe(name);
    const saved = readFileSync((await download.path())!);
    expect(saved.length).toBe(info.bytes);
    expect([saved[0], saved[1]]).toEqual([0x1f, 0x8b]); // gzip
    const fetched = await page.evaluate(
      async (href) => {
        const res = await fetch(href);
        return { status: res.status, bytes: (await res.arrayBuffer()).byteLength, disposition: res.headers.get('content-disposition') };
      },
      (await link.getAttribute('href'))!,
    );
    expect(fetched).toEqual({ status: 200, bytes: info.bytes, disposition: `attachment; filename="${name}"` });

    // Record all, stop all: both streaming hosts.
    // Record all takes every host whose stream goes on (not rec's, once it has ended).
    await page.getByTestId('host-status').and(page.locator('[data-host="rec"][data-state="ended"]')).waitFor();
    s.agent(SAMPLE, { host: 'rec2', speed: '1' });
    s.agent(SAMPLE, { host: 'rec3', speed: '1' });
    await panel.getByTestId('record-host').and(page.locator('[data-host="rec3"]')).waitFor();
    await panel.getByTestId('record-host').and(page.locator('[data-host="rec2"]')).waitFor();
    await panel.getByTestId('record-all').click();
    await until(
      `both hosts recording (${await panel.getByTestId('captures-message').textContent()})`,
      async () => (await panel.getByTestId('recording-name').count()) === 2,
    );
    expect(
      await panel
        .locator('[data-testid="record-host"][data-recording^="rec"]')
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-host'))),
    ).toEqual(['rec2', 'rec3']);
    await panel.getByTestId('stop-all').click();
    await until(
      'both recordings in the library',
      async () => (await panel.locator('[data-testid="capture-row"][data-recording="false"]').count()) === 3,
    );
    await until('no recording shown', async () => (await panel.getByTestId('recording-name').count()) === 0);

    // Replay from the library: a new host, replayed by the server, with its controls.
    await row.getByTestId('capture-replay').click();
    const replayHost = `replay-${name.replace(/\.ljsonl\.gz$/, '')}`;
    await panel
      .getByTestId('captures-message')
      .filter({ hasText: `as host ${replayHost}` })
      .waitFor();
    await page
      .getByTestId('host-status')
      .and(page.locator(`[data-host="${replayHost}"]`))
      .waitFor();
    const bar = page.getByTestId('replay-bar').and(page.locator(`[data-host="${replayHost}"]`));
    await bar.waitFor();
    const view = (await until(
      'the replay view',
      async () => (await s.api<HostView[]>('/api/hosts')).find((v) => v.host === replayHost)?.replay ?? undefined,
    )) as ReplayView;
    expect(view.capture).toBe(name);
    await screenshot(page, 'captures-panel');
    await panel.screenshot({ path: join(SCREENSHOTS, 'captures-panel.png') });

    // Delete asks first: dismissed, nothing happens; accepted, the capture goes.
    page.once('dialog', (d) => void d.dismiss());
    await row.getByTestId('capture-delete').click();
    await page.waitForTimeout(300);
    expect((await s.api<CaptureInfo[]>('/api/captures')).some((c) => c.name === name)).toBe(true);
    page.once('dialog', (d) => {
      expect(d.message()).toContain(name);
      void d.accept();
    });
    await row.getByTestId('capture-delete').click();
    await row.waitFor({ state: 'detached' });
    expect((await s.api<CaptureInfo[]>('/api/captures')).some((c) => c.name === name)).toBe(false);
    await panel
      .getByTestId('captures-message')
      .filter({ hasText: `deleted ${name}` })
      .waitFor();

    // Upload through the file input: it is listed with its size; a bad name is refused with the server's reason.
    const bytes = readFileSync(SAMPLE);
    await panel
      .getByTestId('capture-upload')
      .setInputFiles({ name: 'uploaded-sample.ljsonl.gz', mimeType: 'application/gzip', buffer: bytes });
    const up = panel.getByTestId('capture-row').and(page.locator('[data-name="uploaded-sample.ljsonl.gz"]'));
    await up.waitFor();
    await panel.getByTestId('captures-message').filter({ hasText: 'uploaded uploaded-sample.ljsonl.gz' }).waitFor();
    expect((await s.api<CaptureInfo[]>('/api/captures')).find((c) => c.name === 'uploaded-sample.ljsonl.gz')!.bytes).toBe(bytes.length);
    // A name the server would refuse is said at once, without sending the file.
    await panel.getByTestId('capture-upload').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
    await panel
      .getByTestId('captures-message')
      .and(page.locator('[data-kind="error"]'))
      .filter({ hasText: 'not uploaded: notes.txt' })
      .waitFor();
    // A name that exists already: the server refuses, and the page says why.
    await panel
      .getByTestId('capture-upload')
      .setInputFiles({ name: 'uploaded-sample.ljsonl.gz', mimeType: 'application/gzip', buffer: bytes });
    await panel
      .getByTestId('captures-message')
      .and(page.locator('[data-kind="error"]'))
      .filter({ hasText: /upload failed: .*exists already/ })
      .waitFor();
    expect(errors.splice(0)).toEqual([expect.stringMatching(/status of 409 \(Conflict\)/)]); // chromium logs the refused PUT
    // The upload replays too.
    await up.getByTestId('capture-replay').click();
    await page.getByTestId('replay-bar').and(page.locator('[data-host="replay-uploaded-sample"]')).waitFor();
    expect(errors).toEqual([]);
  });
});
