/**
 * A moving line chart (chart.js 4, loaded as the UMD global `Chart` by index.html) fed with the
 * series from series.ts. Data arrays are replaced in place and drawn with update('none').
 */
import type { Chart as ChartType, ChartDataset } from 'chart.js';
import type { Family, ObjectKind } from '../../server/shared/kinds.js';
import type { Series } from './series.js';

declare const Chart: typeof import('chart.js').Chart;

const PALETTE = ['#2563eb', '#059669', '#d97706', '#7c3aed', '#db2777', '#0891b2', '#65a30d', '#9333ea', '#ea580c', '#475569'];
/**
 * Stable colors for the names lifetrace uses (families and kinds), so a line keeps its color; a
 * family or kind added to shared/kinds.ts is a compile error here until it has one.
 */
const NAMED: Readonly<Record<Family | ObjectKind, string>> = {
  file: '#2563eb',
  epoll: '#059669',
  dcache: '#d97706',
  fsnotify: '#7c3aed',
  tracefs: '#db2777',
  syscalls: '#0891b2',
  dentry: '#d97706',
  epitem: '#65a30d',
  mark: '#7c3aed',
  eventfs: '#db2777',
};

const NAMED_BY_KEY = new Map<string, string>(Object.entries(NAMED));

function colorOf(key: string): string {
  const named = NAMED_BY_KEY.get(key);
  if (named) return named;
  let x = 0;
  for (const c of key) x = (x * 31 + c.charCodeAt(0)) >>> 0;
  return PALETTE[x % PALETTE.length]!;
}

export interface ChartWidget {
  /** `extra` is drawn as red bars on a second axis (lost events), aligned with the labels. */
  update(series: Series, extra?: { label: string; data: number[] }): void;
  readonly chart: ChartType<'line' | 'bar', number[], string>;
}

export function createChart(canvas: HTMLCanvasElement, yTitle: string): ChartWidget {
  const chart = new Chart<'line' | 'bar', number[], string>(canvas, {
    type: 'line',
    data: { labels: [], datasets: [] },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      normalized: true,
      interaction: { mode: 'index', intersect: false },
      elements: { point: { radius: 0 }, line: { borderWidth: 1.5, tension: 0 } },
      plugins: { legend: { position: 'bottom', labels: { boxWidth: 10, boxHeight: 10, font: { size: 11 } } } },
      scales: {
        x: { ticks: { maxTicksLimit: 7, maxRotation: 0, font: { size: 10 } } },
        y: { beginAtZero: true, title: { display: true, text: yTitle, font: { size: 11 } }, ticks: { font: { size: 10 } } },
        lost: {
          position: 'right',
          beginAtZero: true,
          display: 'auto',
          grid: { drawOnChartArea: false },
          title: { display: true, text: 'lost', color: '#dc2626', font: { size: 11 } },
          ticks: { color: '#dc2626', font: { size: 10 } },
        },
      },
    },
  });

  return {
    chart,
    update(series, extra) {
      chart.data.labels = series.labels;
      const keep = new Map(chart.data.datasets.map((d) => [d.label ?? '', d]));
      const next: ChartDataset<'line' | 'bar', number[]>[] = series.datasets.map(({ key, data }) => {
        const d = keep.get(key);
        // A single interval has no line to draw: show its points instead.
        const pointRadius = data.length < 2 ? 3 : 0;
        if (d && d.type !== 'bar') {
          d.data = data;
          (d as ChartDataset<'line', number[]>).pointRadius = pointRadius;
          return d;
        }
        return {
          type: 'line',
          label: key,
          data,
          pointRadius,
          borderColor: colorOf(key),
          backgroundColor: colorOf(key),
          yAxisID: 'y',
        } as ChartDataset<'line' | 'bar', number[]>;
      });
      if (extra?.data.some((v) => v > 0)) {
        const d = keep.get(extra.label);
        if (d && d.type === 'bar') {
          d.data = extra.data;
          next.push(d);
        } else {
          next.push({
            type: 'bar',
            label: extra.label,
            data: extra.data,
            backgroundColor: 'rgba(220,38,38,0.6)',
            yAxisID: 'lost',
            barPercentage: 1,
            categoryPercentage: 1,
          } as ChartDataset<'line' | 'bar', number[]>);
        }
      }
      chart.data.datasets = next;
      chart.update('none');
    },
  };
}
