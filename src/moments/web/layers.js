// The "Why the curve moves" panel: the layers of /v1/engagement/{kind}/{id}/layers on one time
// axis. Above: the share of viewers who watched each moment (the heatmap, solid line) and the
// plays per view (rewatch, dashed line: above the solid one where people watch again). Below:
// arrivals as bars up and departures as hatched bars down. A table under a <details> holds the
// same numbers (the text alternative); the legend names each mark by shape and word, not colour.
// Export links fetch the API's tidy files (CSV, JSON, Parquet) with the token in the header.

import { MARGIN as CHART_MARGIN, drawnWidth, timeTicks } from './chart.js';
import { save } from './downloads.js';
import { html, svg } from './dom.js';
import * as format from './format.js';

const MARGIN = { left: CHART_MARGIN.left, right: CHART_MARGIN.right, top: 12 };
const CURVES_HEIGHT = 160;
const GAP = 16;
const BARS_HEIGHT = 90; // half up (arrivals), half down (departures)
const AXIS_HEIGHT = 26;
const HEIGHT = MARGIN.top + CURVES_HEIGHT + GAP + BARS_HEIGHT + AXIS_HEIGHT;
const EXPORTS = [['heatmap', 'Heatmap'], ['layers', 'Layers'], ['hotspots', 'Hotspots']];
const FORMATS = [['csv', 'CSV'], ['json', 'JSON'], ['parquet', 'Parquet']];
const COLUMNS = [['unique', 'Watched (share)'], ['rewatch', 'Plays per view'], ['arrivals', 'Arrivals'], ['departures', 'Departures']];

/** An axis: a round step and the first step at or above the highest value (at least `floor`). */
export function axisTop(values, floor) {
  const highest = Math.max(floor, ...values);
  const step = highest <= 0.1 ? 0.025 : highest <= 1 ? 0.25 : highest <= 2 ? 0.5 : 1;
  return { top: Math.ceil(highest / step - 1e-9) * step, step };
}

/** The bucket where `values` is highest (the first such), for the summary. */
const argmax = (values) => values.reduce((best, v, i) => (v > values[best] ? i : best), 0);

/** What the layers say, in three sentences: where people go back, where they come in, where they leave. */
export function summaryOf(data, at) {
  const n = data.unique.length;
  const extra = data.rewatch.map((v, i) => v - data.unique[i]);
  const r = argmax(extra);
  const rewatch = extra[r] >= 0.005
    ? `Most plays per view at ${at(r)}: ${data.rewatch[r].toFixed(2)}, where ${format.percent(data.unique[r])} of views watched it, so viewers went back to it.`
    : 'Hardly anything is watched twice in one view.';
  const a = n > 1 ? argmax(data.arrivals.slice(1)) + 1 : 0;
  const arrive = n > 1 && data.arrivals[a] > 0
    ? ` ${format.percent(data.arrivals[0])} of views start at ${at(0)}; after that, most arrive at ${at(a)} (${format.percent(data.arrivals[a])}), seeking or starting there.`
    : ` ${format.percent(data.arrivals[0])} of views start at ${at(0)}.`;
  const d = argmax(n > 1 ? data.departures.slice(0, -1) : data.departures);
  const leave = ` Most leave or seek away at ${at(d)} (${format.percent(data.departures[d])} of views); ${format.percent(data.unique.at(-1))} watch the last moment.`;
  return rewatch + arrive + leave;
}

export class LayersPanel {
  /**
   * @param {HTMLElement} root  an empty <section>; the panel builds its contents inside
   * @param {{fail: (error: Error, retry: Function) => void}} options  how failures are shown
   */
  constructor(root, options) {
    this.root = root;
    this.options = options;
    this.query = null; // {api, kind, id, timeframe}
    this.seq = 0; // only the latest request's answer is drawn
    this.data = null;
    this.build();
    // Drawn at the panel's own width (text never scales), again when that changes.
    new ResizeObserver(() => this.data && this.drawing.replaceChildren(this.draw(this.data, format.timeFormatter(this.data.duration_ms))))
      .observe(this.drawing);
  }

  build() {
    this.status = html('p', { className: 'empty-note', id: 'layers-status', role: 'status' });
    this.summary = html('p', { className: 'layers-summary', id: 'layers-summary' });
    this.drawing = html('div', { className: 'layers-drawing', id: 'layers-drawing' });
    const legend = html('ul', { className: 'layers-legend', id: 'layers-legend' },
      ...[['unique', '── watched: share of viewers'], ['rewatch', '- - - plays per view (rewatch: the shaded gap above the solid line)'],
        ['arrivals', '▲ bars up: arrivals (started or seeked in)'], ['departures', '▼ hatched bars down: departures (left or seeked away)']]
        .map(([kind, text]) => html('li', { className: `layers-key ${kind}` }, html('span', { className: `layers-swatch ${kind}` }), text)));
    this.rows = html('tbody', { id: 'layers-rows' });
    this.table = html('table', { className: 'layers-table', id: 'layers-table' },
      html('caption', { textContent: 'Per moment: share who watched, plays per view, arrivals and departures.' }),
      html('thead', {}, html('tr', {}, ...[['time', 'Moment'], ...COLUMNS].map(([, h]) => html('th', { scope: 'col', textContent: h })))),
      this.rows);
    const details = html('details', { className: 'layers-details' }, html('summary', { textContent: 'The numbers, as a table' }), this.table);
    this.exports = html('div', { className: 'layers-exports', id: 'layers-exports', role: 'group' },
      html('span', { className: 'layers-exports-label', textContent: 'Export from the API:' }),
      ...EXPORTS.map(([what, name]) => html('span', { className: 'layers-export-group' }, `${name} `,
        ...FORMATS.map(([fmt, label]) => {
          const button = html('button', { type: 'button', className: 'button small', id: `export-${what}-${fmt}`, textContent: label });
          button.setAttribute('aria-label', `Export ${name.toLowerCase()} as ${label}`);
          button.addEventListener('click', () => this.download(what, fmt, button));
          return button;
        }))));
    this.exports.setAttribute('aria-label', 'Exports of the selected content');
    this.figure = html('figure', { className: 'layers-figure', id: 'layers-figure' },
      this.drawing, html('figcaption', {}, legend, this.summary));
    this.root.append(html('h3', { id: 'layers-title', textContent: 'Why the curve moves' }), this.status,
      this.figure, details, this.exports);
  }

  show(query) {
    this.query = query;
    this.load();
  }

  clear() {
    this.seq++;
    this.query = null;
    this.data = null;
    this.drawing.replaceChildren();
    this.rows.replaceChildren();
    this.root.hidden = true;
  }

  async load() {
    const seq = ++this.seq;
    const { api, kind, id, timeframe } = this.query;
    this.root.hidden = false;
    this.root.setAttribute('aria-busy', 'true');
    try {
      const body = await api.layers(kind, id, timeframe);
      if (seq === this.seq) this.render(body.data);
    } catch (error) {
      if (seq === this.seq) this.options.fail(error, () => this.load());
    } finally {
      if (seq === this.seq) this.root.removeAttribute('aria-busy');
    }
  }

  async download(what, fmt, button) {
    const { api, kind, id, timeframe } = this.query;
    button.disabled = true;
    try {
      const file = await api.exportFile(kind, id, `${what}.${fmt}`, timeframe);
      save(file.name, file.blob, file.blob.type);
    } catch (error) {
      this.options.fail(error, () => this.download(what, fmt, button));
    } finally {
      button.disabled = false;
    }
  }

  render(data) {
    const hasViews = data.total_views > 0 && data.unique.length > 0;
    this.figure.hidden = !hasViews;
    this.table.parentElement.hidden = !hasViews;
    for (const button of this.exports.querySelectorAll('button')) button.disabled = !hasViews;
    this.data = hasViews ? data : null;
    if (!hasViews) {
      this.status.textContent = 'No views in this timeframe, so no layers.';
      this.drawing.replaceChildren();
      this.rows.replaceChildren();
      return;
    }
    const time = format.timeFormatter(data.duration_ms);
    const n = data.unique.length;
    const at = (i) => time(Math.floor((i * data.duration_ms) / n));
    this.status.textContent = `${format.plural(data.total_views, 'view')}, ${n} moments of ${format.length(data.duration_ms)}.`;
    this.summary.textContent = summaryOf(data, at);
    this.drawing.replaceChildren(this.draw(data, time));
    this.rows.replaceChildren(...data.unique.map((_, i) => {
      const tr = html('tr', {}, html('th', { scope: 'row', textContent: at(i) }),
        ...COLUMNS.map(([key]) => html('td', { textContent: data[key][i].toFixed(3) })));
      tr.dataset.bucket = i;
      return tr;
    }));
  }

  /** Curves above, bars below, one x scale: bucket i's middle sits at the same x in both, and at
   * the same x as in the main chart (same margins, same width, same ticks). */
  draw(data, time) {
    const n = data.unique.length;
    const width = drawnWidth(this.drawing.clientWidth);
    const plotWidth = width - MARGIN.left - MARGIN.right;
    const x = (i) => MARGIN.left + (i / n) * plotWidth; // bucket edge i
    const mid = (i) => ((x(i) + x(i + 1)) / 2).toFixed(2);
    // Percent of views, as the main chart: plays per view of 1.3 read as 130%.
    const curves = axisTop([...data.unique, ...data.rewatch], 1);
    // Nearly every view arrives at 0:00: that bar is cut (marked so, with its value) so the others stay readable.
    const bars = axisTop([...data.arrivals.slice(1), ...data.departures], 0.05);
    const yCurve = (v) => MARGIN.top + CURVES_HEIGHT * (1 - v / curves.top);
    const base = MARGIN.top + CURVES_HEIGHT + GAP + BARS_HEIGHT / 2;
    const barHeight = (v) => (Math.min(v, bars.top) / bars.top) * (BARS_HEIGHT / 2);
    const root = svg('svg', { width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, class: 'layers-svg', role: 'img',
      'data-curves-top': curves.top, 'data-bars-top': bars.top });
    svg('title', {}, root).textContent = `Layers: ${this.summary.textContent}`;
    const defs = svg('defs', {}, root);
    const hatch = svg('pattern', { id: 'departure-hatch', width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' }, defs);
    svg('rect', { width: 6, height: 6, class: 'departure-hatch-bg' }, hatch);
    svg('line', { x1: 0, y1: 0, x2: 0, y2: 6, class: 'departure-hatch-line' }, hatch);

    const grid = svg('g', { class: 'layers-grid' }, root);
    for (let v = 0; v <= curves.top + 1e-9; v += curves.step) {
      svg('line', { x1: MARGIN.left, x2: width - MARGIN.right, y1: yCurve(v), y2: yCurve(v) }, grid);
      svg('text', { x: MARGIN.left - 8, y: yCurve(v) + 4, class: 'layers-y' }, grid).textContent = `${Math.round(v * 100)}%`;
    }
    svg('line', { x1: MARGIN.left, x2: width - MARGIN.right, y1: base, y2: base, class: 'layers-baseline' }, grid);
    svg('text', { x: MARGIN.left - 8, y: base - BARS_HEIGHT / 2 + 10, class: 'layers-y' }, grid).textContent = `▲${Math.round(bars.top * 100)}%`;
    svg('text', { x: MARGIN.left - 8, y: base + BARS_HEIGHT / 2, class: 'layers-y' }, grid).textContent = `▼${Math.round(bars.top * 100)}%`;

    // Rewatches: the band between the two curves, then the solid line, then the dashed one on top,
    // so where nothing is rewatched the dashes still show over the solid line.
    const line = (key) => data[key].map((v, i) => `${i ? 'L' : 'M'}${mid(i)},${yCurve(v).toFixed(2)}`).join(' ');
    const back = data.unique.map((v, i) => `L${mid(n - 1 - i)},${yCurve(data.unique[n - 1 - i]).toFixed(2)}`).join(' ');
    svg('path', { d: `${line('rewatch')} ${back} Z`, class: 'layers-rewatch-band' }, root);
    for (const key of ['unique', 'rewatch']) {
      svg('path', { d: line(key), class: `layers-line ${key}`, 'data-layer': key, 'data-points': n }, root);
    }
    const barGroup = svg('g', { class: 'layers-bars', 'shape-rendering': 'crispEdges' }, root);
    for (const [key, up] of [['arrivals', true], ['departures', false]]) {
      data[key].forEach((v, i) => {
        if (v <= 0) return;
        const h = barHeight(v);
        const barWidth = Math.max(1, x(i + 1) - x(i) - 0.5);
        svg('rect', { x: x(i), y: up ? base - h : base, width: barWidth, height: h, class: `layers-bar ${key}`, 'data-bucket': i }, barGroup);
        if (v > bars.top) this.cut(barGroup, x(i), barWidth, up ? base - h : base + h, up, v, i);
      });
    }
    const axis = svg('g', { class: 'layers-axis' }, root);
    const axisY = HEIGHT - AXIS_HEIGHT + 16;
    for (const t of timeTicks(data.duration_ms, plotWidth)) {
      const px = MARGIN.left + (t / data.duration_ms) * plotWidth;
      svg('line', { x1: px, x2: px, y1: HEIGHT - AXIS_HEIGHT, y2: HEIGHT - AXIS_HEIGHT + 5 }, axis);
      const anchor = t === 0 ? 'start' : px > width - MARGIN.right - 24 ? 'end' : 'middle';
      svg('text', { x: px, y: axisY, 'text-anchor': anchor }, axis).textContent = time(t);
    }
    return root;
  }

  /** A bar taller than its scale: a break across its end (the usual mark of a cut bar) and its
   * value beside it, inside the plot. */
  cut(parent, x0, barWidth, end, up, value, bucket) {
    const y = end + (up ? 6 : -6);
    svg('path', { d: `M${x0 - 2},${y + 2} L${x0 + barWidth + 2},${y - 2} M${x0 - 2},${y + 5} L${x0 + barWidth + 2},${y + 1}`, class: 'layers-break' }, parent);
    svg('text', { x: x0 + barWidth + 4, y: up ? end + 10 : end - 3, class: 'layers-clipped', 'data-bucket': bucket }, parent)
      .textContent = `${up ? '▲' : '▼'} ${format.percent(value)}`;
  }
}
