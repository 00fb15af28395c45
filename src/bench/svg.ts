// The benchmark's chart as a hand-written SVG: one row per case, round trips on the left (µs, log
// scale: cross-CPU median with its p99 as a tick, same-CPU median) and one-way throughput on the right
// (GB/s, log scale: 64 B, 64 KiB and 1 MiB messages). The background is transparent; text and grid
// switch colour with prefers-color-scheme so that it reads on GitHub's light and dark themes.
import type { CaseDef, Family, Kind } from './plan.js';
import type { Measurement } from './report.js';

const FAMILY_TITLES: Record<Family, string> = { c: 'C references', unipc: 'unipc', node: 'Node built-ins' };
const RTT_SERIES = [
  { key: 'cross', label: 'cross-CPU median, whisker to p99', color: '#4e79a7' },
  { key: 'same', label: 'same-CPU median', color: '#9ecae9' },
] as const;
const TPUT_SERIES: Array<{ kind: Kind; label: string; color: string }> = [
  { kind: 'tput64', label: '64 B messages (labelled in M messages/s)', color: '#f28e2b' },
  { kind: 'tput64k', label: '64 KiB chunks', color: '#59a14f' },
  { kind: 'tput1m', label: '1 MiB chunks', color: '#b07aa1' },
];

const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const number = (x: number) => (Math.round(x * 10) / 10).toString();

/** A log10 axis over whole decades that covers every value. */
function decades(values: number[]): [number, number] {
  const finite = values.filter((v) => v > 0 && Number.isFinite(v));
  if (finite.length === 0) return [0, 1];
  const low = Math.floor(Math.log10(Math.min(...finite)));
  const high = Math.ceil(Math.log10(Math.max(...finite)));
  return [low, high === low ? low + 1 : high];
}

function tickLabel(exponent: number, unit: string): string {
  const value = 10 ** exponent;
  const text = exponent < 0 ? value.toFixed(-exponent) : value.toLocaleString('en-US');
  return `${text}${unit}`;
}

function shortValue(value: number): string {
  return value >= 100
    ? value.toFixed(0)
    : value >= 10
      ? value.toFixed(1)
      : value >= 0.1
        ? value.toFixed(2)
        : value.toPrecision(2);
}

export function renderSvg(cases: CaseDef[], measurements: Measurement[], subtitle: string): string {
  const get = (id: string, kind: Kind, placement?: string) =>
    measurements.find(
      (m) => m.case === id && m.kind === kind && (placement === undefined || m.placement === placement),
    );
  const gbps = (m: Measurement | undefined): number | undefined => {
    if (m === undefined) return undefined;
    if (m.gigabytesPerSecond !== undefined) return m.gigabytesPerSecond;
    return m.messagesPerSecond === undefined ? undefined : (m.messagesPerSecond * 64) / 1e9;
  };

  const labelWidth = 270;
  const panelWidth = 330;
  const valueRoom = 44;
  const gap = 30;
  const rttX = labelWidth;
  const tputX = rttX + panelWidth + valueRoom + gap;
  const width = tputX + panelWidth + valueRoom + 10;
  const bar = 7;
  const rowHeight = 3 * bar + 8;
  const top = 112;

  const rttValues = cases.flatMap((c) =>
    ['cross-CPU', 'same-CPU'].flatMap((p) => [get(c.id, 'rtt8', p)?.median, get(c.id, 'rtt8', p)?.p99]),
  );
  const tputValues = cases.flatMap((c) => TPUT_SERIES.map((s) => gbps(get(c.id, s.kind))));
  const [rttLow, rttHigh] = decades(rttValues.filter((v): v is number => v !== undefined));
  const [tputLow, tputHigh] = decades(tputValues.filter((v): v is number => v !== undefined));
  const scale = (value: number, low: number, high: number) => ((Math.log10(value) - low) / (high - low)) * panelWidth;

  const rows: string[] = [];
  let y = top;
  let family: Family | undefined;
  for (const def of cases) {
    if (def.family !== family) {
      family = def.family;
      y += 6;
      rows.push(`<text class="group" x="8" y="${y + 10}">${FAMILY_TITLES[family]}</text>`);
      rows.push(`<line class="rule" x1="8" x2="${width - 10}" y1="${y + 14}" y2="${y + 14}"/>`);
      y += 20;
    }
    rows.push(
      `<text class="label" x="${labelWidth - 10}" y="${y + rowHeight / 2 + 1}" text-anchor="end">${escapeXml(def.label)}</text>`,
    );
    // Round trips: cross-CPU bar with a p99 tick, same-CPU bar under it.
    const cross = get(def.id, 'rtt8', 'cross-CPU');
    const same = get(def.id, 'rtt8', 'same-CPU');
    const rttBars: Array<[number | undefined, number | undefined, string]> = [
      [cross?.median, cross?.p99, RTT_SERIES[0].color],
      [same?.median, undefined, RTT_SERIES[1].color],
    ];
    rttBars.forEach(([median, p99, color], i) => {
      const by = y + 4 + i * (bar + 2);
      if (median === undefined) {
        if (i === 0)
          rows.push(
            `<text class="na" x="${rttX + 4}" y="${by + bar}">${def.skip?.rtt8 !== undefined ? 'not a round-trip case' : 'n/a'}</text>`,
          );
        else if (cross !== undefined && def.noSameCpu !== undefined)
          rows.push(`<text class="na" x="${rttX + 4}" y="${by + bar}">same-CPU: not measured (busy-waits)</text>`);
        return;
      }
      const w = Math.max(1, scale(median, rttLow, rttHigh));
      rows.push(
        `<rect x="${rttX}" y="${by}" width="${number(w)}" height="${bar}" fill="${color}"><title>${escapeXml(`${def.label}: ${median.toFixed(2)} µs`)}</title></rect>`,
      );
      let label = shortValue(median);
      let end = rttX + w;
      if (p99 !== undefined) {
        // The p99 as a whisker from the bar's end, the label after it: "median · p99".
        const px = rttX + Math.max(1, scale(p99, rttLow, rttHigh));
        rows.push(
          `<line class="whisker" x1="${number(end)}" x2="${number(px)}" y1="${by + bar / 2}" y2="${by + bar / 2}"/>`,
        );
        rows.push(`<line class="p99" x1="${number(px)}" x2="${number(px)}" y1="${by}" y2="${by + bar}"/>`);
        end = Math.max(end, px);
        label += ` · p99 ${shortValue(p99)}`;
      }
      rows.push(`<text class="value" x="${number(end + 3)}" y="${by + bar - 0.5}">${label}</text>`);
    });
    // Throughput: three bars.
    let anyTput = false;
    TPUT_SERIES.forEach((series, i) => {
      const value = gbps(get(def.id, series.kind));
      const by = y + 1 + i * bar;
      if (value === undefined) return;
      anyTput = true;
      const w = Math.max(1, scale(value, tputLow, tputHigh));
      const shown = series.kind === 'tput64' ? `${shortValue((value * 1e9) / 64 / 1e6)} M/s` : shortValue(value);
      rows.push(
        `<rect x="${tputX}" y="${by}" width="${number(w)}" height="${bar - 1}" fill="${series.color}"><title>${escapeXml(`${def.label}, ${series.label}: ${shown}${series.kind === 'tput64' ? '' : ' GB/s'}`)}</title></rect>`,
      );
      rows.push(`<text class="value" x="${number(tputX + w + 3)}" y="${by + bar - 1.5}">${shown}</text>`);
    });
    if (!anyTput) rows.push(`<text class="na" x="${tputX + 4}" y="${y + rowHeight / 2 + 3}">round trips only</text>`);
    y += rowHeight;
  }
  const bottom = y + 4;

  const grid = (x0: number, low: number, high: number, unit: string) => {
    const parts: string[] = [];
    for (let e = low; e <= high; e++) {
      const x = x0 + ((e - low) / (high - low)) * panelWidth;
      parts.push(`<line class="grid" x1="${number(x)}" x2="${number(x)}" y1="${top - 4}" y2="${bottom}"/>`);
      parts.push(
        `<text class="tick" x="${number(x)}" y="${top - 8}" text-anchor="middle">${tickLabel(e, unit)}</text>`,
      );
    }
    return parts.join('\n');
  };
  const legend = (x0: number, items: Array<{ label: string; color: string }>) =>
    items
      .map((item, i) => {
        const ly = 66 + i * 12;
        return `<rect x="${x0}" y="${ly - 7}" width="10" height="7" fill="${item.color}"/><text class="legend" x="${x0 + 14}" y="${ly}">${escapeXml(item.label)}</text>`;
      })
      .join('\n');

  const height = bottom + 14;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="-apple-system, BlinkMacSystemFont, 'Segoe UI', Helvetica, Arial, sans-serif">
<style>
  text { fill: #24292f; font-size: 11px; }
  .title { font-size: 15px; font-weight: 600; }
  .subtitle, .tick, .legend, .na { fill: #57606a; font-size: 10px; }
  .group { font-weight: 600; font-size: 11px; }
  .value { font-size: 9px; fill: #57606a; }
  .grid { stroke: #d0d7de; stroke-width: 1; }
  .rule { stroke: #d0d7de; stroke-width: 1; }
  .p99 { stroke: #57606a; stroke-width: 1.5; }
  .whisker { stroke: #57606a; stroke-width: 0.75; }
  @media (prefers-color-scheme: dark) {
    text { fill: #e6edf3; }
    .subtitle, .tick, .legend, .na, .value { fill: #9198a1; }
    .grid, .rule { stroke: #3d444d; }
    .p99, .whisker { stroke: #9198a1; }
  }
</style>
<text class="title" x="8" y="20">unipc benchmark: two processes, one run</text>
<text class="subtitle" x="8" y="35">${escapeXml(subtitle)}</text>
<text class="group" x="${rttX}" y="54">Round trip, 8 B, µs (log scale; shorter is better)</text>
${legend(rttX, [...RTT_SERIES])}
<text class="group" x="${tputX}" y="54">One-way throughput, GB/s (log scale; longer is better)</text>
${legend(tputX, TPUT_SERIES)}
${grid(rttX, rttLow, rttHigh, ' µs')}
${grid(tputX, tputLow, tputHigh, '')}
${rows.join('\n')}
</svg>
`;
}
