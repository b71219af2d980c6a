// The human side of `kiln bench`: the summary table with kiln/peer ratios,
// the peak-RSS and long-run memory tables, and the SVG bar chart (written by
// hand, no plotting dependency).
import type { BenchResult, Mode, ModelName, SoakResult, Workload } from './workloads';
import { workloadLabel } from './workloads';

/** The kiln/PyTorch throughput targets of the benchmark issue. */
export const TORCH_TARGETS: Record<Mode, Record<ModelName, number>> = {
  train: { lenet5: 2.0, resnet20: 1.3, 'alexnet-s': 1.0 },
  infer: { lenet5: 1.5, resnet20: 1.2, 'alexnet-s': 1.0 },
};

export function frameworkKey(result: Pick<BenchResult, 'framework' | 'backend'>): string {
  return result.framework === 'kiln' ? 'kiln' : result.framework === 'pytorch' ? 'torch' : `${result.framework}-${result.backend}`;
}

function sameWorkload(a: Workload, b: Workload): boolean {
  return a.model === b.model && a.batch === b.batch && a.mode === b.mode && a.threads === b.threads;
}

export function groupByWorkload(results: BenchResult[]): Array<{ workload: Workload; results: BenchResult[] }> {
  const groups: Array<{ workload: Workload; results: BenchResult[] }> = [];
  for (const result of results) {
    let group = groups.find((g) => sameWorkload(g.workload, result));
    if (!group) {
      group = { workload: { model: result.model, batch: result.batch, mode: result.mode, threads: result.threads }, results: [] };
      groups.push(group);
    }
    group.results.push(result);
  }
  return groups;
}

/** Why a measurement has no number, in one or two words. */
export function statusOf(result: BenchResult): string {
  const error = result.error ?? '';
  if (error.startsWith('missing')) return 'missing';
  if (error.includes('not registered for backend')) return 'unsupported';
  if (error.includes('killed')) return 'timed out';
  if (error) return 'failed';
  return 'skipped';
}

const rate = (value: number | null) => (value === null ? '—' : value >= 100 ? value.toFixed(0) : value.toFixed(1));

/** A Markdown table: one row per workload, images/s per framework and kiln/peer ratios. */
export function summaryTable(results: BenchResult[], peers: string[]): string {
  const header = ['model', 'mode', 'batch', 'threads', 'kiln img/s'];
  for (const peer of peers) header.push(`${peer} img/s`, `kiln/${peer}`);
  if (peers.includes('torch')) header.push('target kiln/torch');
  const rows = [header, header.map(() => '---')];
  for (const { workload, results: group } of groupByWorkload(results)) {
    const kiln = group.find((r) => r.framework === 'kiln');
    const row = [workload.model, workload.mode, String(workload.batch), String(workload.threads), rate(kiln?.imagesPerSecond ?? null)];
    for (const peer of peers) {
      const other = group.find((r) => frameworkKey(r) === peer);
      const ips = other?.imagesPerSecond ?? null;
      row.push(ips !== null || !other ? rate(ips) : statusOf(other));
      row.push(kiln?.imagesPerSecond && ips ? `${(kiln.imagesPerSecond / ips).toFixed(2)}x` : '—');
    }
    if (peers.includes('torch')) {
      const torch = group.find((r) => frameworkKey(r) === 'torch');
      const target = TORCH_TARGETS[workload.mode][workload.model];
      const ratio = kiln?.imagesPerSecond && torch?.imagesPerSecond ? kiln.imagesPerSecond / torch.imagesPerSecond : null;
      row.push(`${target.toFixed(1)}x${ratio === null ? '' : ratio >= target ? ' met' : ' not met'}`);
    }
    rows.push(row);
  }
  return rows.map((row) => `| ${row.join(' | ')} |`).join('\n');
}

/** A Markdown table of each framework's peak RSS (MB) per workload, kiln's beside every peer's. */
export function memoryTable(results: BenchResult[], peers: string[]): string {
  const header = ['model', 'mode', 'batch', 'threads', 'kiln peak RSS MB', ...peers.map((peer) => `${peer} peak RSS MB`)];
  const rows = [header, header.map(() => '---')];
  const mb = (r: BenchResult | undefined) => (r?.peakRssMB == null ? '—' : r.peakRssMB.toFixed(0));
  for (const { workload, results: group } of groupByWorkload(results)) {
    const row = [workload.model, workload.mode, String(workload.batch), String(workload.threads), mb(group.find((r) => r.framework === 'kiln'))];
    for (const peer of peers) row.push(mb(group.find((r) => frameworkKey(r) === peer)));
    rows.push(row);
  }
  return rows.map((row) => `| ${row.join(' | ')} |`).join('\n');
}

/** A Markdown table of kiln's RSS over a long training run per model. */
export function soakTable(soaks: SoakResult[]): string {
  const rows = [['model', 'batch', 'threads', 'steps', 'RSS after warm-up MB', 'max MB', 'end MB', 'growth MB'], Array(8).fill('---')];
  for (const s of soaks) {
    rows.push([s.model, String(s.batch), String(s.threads), String(s.steps), s.startRssMB.toFixed(0), s.maxRssMB.toFixed(0), s.endRssMB.toFixed(0), s.growthMB.toFixed(1)]);
  }
  return rows.map((row) => `| ${row.join(' | ')} |`).join('\n');
}

const COLORS: Record<string, string> = { kiln: '#d9480f', torch: '#1864ab', 'tfjs-cpu': '#5c940d', 'tfjs-wasm': '#862e9c' };

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Horizontal grouped bars, one group per workload, one bar per framework, on a
 * log10 axis of images/s (throughputs span three orders of magnitude across
 * the models). Missing peers get no bar, and say so.
 */
export function svgChart(results: BenchResult[], title: string): string {
  const groups = groupByWorkload(results);
  const frameworks = [...new Set(results.map(frameworkKey))];
  const barHeight = 14;
  const groupGap = 12;
  const left = 190;
  const plotWidth = 560;
  const top = 50;
  const values = results.map((r) => r.imagesPerSecond).filter((v): v is number => v !== null && v > 0);
  const lo = Math.floor(Math.log10(Math.max(Math.min(...values, 10), 1e-3)));
  const hi = Math.ceil(Math.log10(Math.max(...values, 10)));
  const x = (v: number) => left + ((Math.log10(v) - lo) / (hi - lo)) * plotWidth;
  const groupHeight = frameworks.length * barHeight + groupGap;
  const height = top + groups.length * groupHeight + 40;
  const width = left + plotWidth + 150;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="18" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  frameworks.forEach((name, i) => {
    const lx = left + i * 110;
    parts.push(`<rect x="${lx}" y="28" width="10" height="10" fill="${COLORS[name] ?? '#868e96'}"/>`, `<text x="${lx + 14}" y="37">${escapeXml(name)}</text>`);
  });
  const bottom = height - 30;
  for (let p = lo; p <= hi; p++) {
    const gx = x(10 ** p);
    parts.push(
      `<line x1="${gx}" y1="${top - 4}" x2="${gx}" y2="${bottom}" stroke="#dee2e6"/>`,
      `<text x="${gx}" y="${bottom + 14}" text-anchor="middle">${10 ** p >= 1 ? (10 ** p).toLocaleString('en-US') : 10 ** p}</text>`,
    );
  }
  parts.push(`<text x="${left + plotWidth / 2}" y="${bottom + 27}" text-anchor="middle">images per second (log scale)</text>`);
  groups.forEach(({ workload, results: group }, g) => {
    const gy = top + g * groupHeight;
    parts.push(`<text x="${left - 8}" y="${gy + (frameworks.length * barHeight) / 2 + 4}" text-anchor="end">${escapeXml(workloadLabel(workload))}</text>`);
    frameworks.forEach((name, i) => {
      const result = group.find((r) => frameworkKey(r) === name);
      const by = gy + i * barHeight;
      if (!result || result.imagesPerSecond === null) {
        const why = result ? statusOf(result) : 'not run';
        parts.push(`<text x="${left + 4}" y="${by + barHeight - 3}" fill="#868e96">${escapeXml(name)}: ${why}</text>`);
        return;
      }
      const end = x(result.imagesPerSecond);
      parts.push(
        `<rect x="${left}" y="${by + 1}" width="${Math.max(1, end - left)}" height="${barHeight - 2}" fill="${COLORS[name] ?? '#868e96'}"/>`,
        `<text x="${end + 4}" y="${by + barHeight - 3}">${rate(result.imagesPerSecond)}</text>`,
      );
    });
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
