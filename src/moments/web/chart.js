// The engagement chart: the curve (share of viewers at each moment) above a heat strip of the
// same values, on one mm:ss time axis, with the hotspots drawn as bands. Plain SVG.
//
// Colour is never the only carrier of meaning: peaks are solid bands marked "▲ P1", cold spots
// hatched bands marked "▼ C1", and the strip repeats what the curve's height already shows.
// Chapters, when the content has them, are alternate shaded stretches behind it all, each
// titled at its top-left (shortened to fit) and named in the tooltip.

import { svg as el } from './dom.js';
import { percent } from './format.js';
import { KINDS } from './hotspots.js';
import { bucketStart } from './downloads.js';
import { chaptersOf } from './chapters.js';

const MARGIN = { left: 56, right: 20, top: 36 };
const CURVE_HEIGHT = 240;
const GAP = 12;
const STRIP_HEIGHT = 30;
const AXIS_HEIGHT = 30;
const HEIGHT = MARGIN.top + CURVE_HEIGHT + GAP + STRIP_HEIGHT + AXIS_HEIGHT;
const TIME_STEPS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400];
const MIN_TICK_SPACING_PX = 72;
const SHARE_STEPS = [0.02, 0.05, 0.1, 0.2, 0.25];
const MIN_WIDTH = 240; // a 360 px phone leaves about 280 px for a chart
const CHAPTER_TITLE_CHAR_PX = 6.6; // about one character of the 11 px chapter titles
const MIN_CHAPTER_TITLE_CHARS = 3; // narrower chapters go untitled (the tooltip names them)
export { MARGIN };

// Viridis, sampled: perceptually even and readable with the common colour-vision deficiencies.
const VIRIDIS = ['#440154', '#482878', '#3e4989', '#31688e', '#26828e', '#1f9e89', '#35b779', '#6ece58', '#b5de2b', '#fde725'];

export function heatColour(t) {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const [a, b] = [VIRIDIS[i], VIRIDIS[i + 1]].map((hex) => [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16)));
  const f = x - i;
  return `rgb(${a.map((c, k) => Math.round(c + (b[k] - c) * f)).join(',')})`;
}

/** The top of the share axis: a round number just above the highest value, at most 100%. */
export function shareScale(values) {
  const highest = Math.max(0.01, ...values);
  for (const step of SHARE_STEPS) {
    const top = Math.min(1, Math.ceil(highest / step - 1e-9) * step);
    if (top / step <= 5) return { top, step };
  }
  return { top: 1, step: 0.2 };
}

/** The time axis's ticks (ms) for a plot `widthPx` wide: round steps at least MIN_TICK_SPACING_PX
 * apart. Every chart on the page takes its ticks from here, so their axes read alike. */
export function timeTicks(durationMs, widthPx) {
  const fits = Math.max(1, Math.floor(widthPx / MIN_TICK_SPACING_PX));
  const step = (TIME_STEPS_S.find((s) => durationMs / (s * 1000) <= fits) ?? TIME_STEPS_S.at(-1)) * 1000;
  const ticks = [];
  for (let t = 0; t <= durationMs + 1; t += step) ticks.push(t);
  return ticks;
}

/** Where a chart with MARGIN sits inside a container `clientWidth` wide (never below a phone's). */
export const drawnWidth = (clientWidth) => Math.max(MIN_WIDTH, clientWidth);

export class Chart {
  /**
   * @param {HTMLElement} container  focusable; the SVG and the tooltip go inside
   * @param {{onSeek: (ms: number) => void, formatTime: (ms: number) => string, announce: (text: string) => void}} options
   */
  constructor(container, options) {
    this.container = container;
    this.options = options;
    this.data = null;
    this.index = null; // the bucket under the pointer or the keyboard cursor
    this.playheadMs = null;
    this.tooltip = document.createElement('div');
    this.tooltip.className = 'chart-tooltip';
    this.tooltip.hidden = true;
    this.tooltip.setAttribute('aria-hidden', 'true'); // the keyboard path announces through `announce`
    container.addEventListener('keydown', (event) => this.onKey(event));
    this.keyboard = false; // the cursor follows the keyboard (stays put) rather than the pointer
    container.addEventListener('focus', () => {
      if (this.data && container.matches(':focus-visible')) {
        this.keyboard = true;
        this.show(this.index ?? 0, false);
      }
    });
    container.addEventListener('blur', () => {
      this.keyboard = false;
      this.hide();
    });
    new ResizeObserver(() => this.data && this.draw()).observe(container);
  }

  /** @param {{values: number[], durationMs: number, hotspots: object[], chapters: object[], formatTime: Function, title: string}} data */
  render(data) {
    this.data = data;
    this.index = null;
    this.draw();
  }

  /** The chapters (the /chapters answer's), once they arrive after the curve. */
  setChapters(chapters) {
    if (!this.data) return;
    this.data = { ...this.data, chapters };
    this.draw();
  }

  clear() {
    this.data = null;
    this.container.replaceChildren();
  }

  setPlayhead(ms) {
    this.playheadMs = ms;
    if (!this.playhead || !this.data) return;
    this.playhead.setAttribute('visibility', ms === null ? 'hidden' : 'visible');
    if (ms !== null) this.playhead.setAttribute('transform', `translate(${this.x(ms)},0)`);
  }

  x(ms) {
    return MARGIN.left + (ms / this.data.durationMs) * this.plotWidth;
  }

  y(share) {
    return MARGIN.top + CURVE_HEIGHT * (1 - share / this.scale.top);
  }

  draw() {
    const { values, low, high, durationMs, hotspots, title } = this.data;
    const width = drawnWidth(this.container.clientWidth);
    this.plotWidth = width - MARGIN.left - MARGIN.right;
    this.scale = shareScale(values);
    const n = values.length;
    const svg = el('svg', { width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, class: 'chart-svg', role: 'img' });
    el('title', {}, svg).textContent = title;
    this.defs(svg);
    this.chapterBands(svg, this.data.chapters ?? []);
    this.grid(svg);

    const bands = el('g', { class: 'bands' }, svg);
    for (const h of hotspots) this.band(bands, h);

    // The curve: one vertex per bucket, at the bucket's middle.
    const points = values.map((v, i) => [this.x(((i + 0.5) * durationMs) / n), this.y(v)]);
    const line = points.map(([px, py], i) => `${i ? 'L' : 'M'}${px.toFixed(2)},${py.toFixed(2)}`).join(' ');
    const base = this.y(0).toFixed(2);
    if (low && high) {  // the 95% band (docs/engagement.md), clipped to the chart's scale
      const at = (v, i) => `${points[i][0].toFixed(2)},${this.y(Math.min(v, this.scale.top)).toFixed(2)}`;
      const upper = high.map((v, i) => `${i ? 'L' : 'M'}${at(v, i)}`).join(' ');
      const lower = low.map((v, i) => `L${at(v, i)}`).reverse().join(' ');
      el('path', { class: 'curve-band', d: `${upper} ${lower} Z` }, svg);
    }
    el('path', { class: 'curve-area', d: `${line} L${points.at(-1)[0].toFixed(2)},${base} L${points[0][0].toFixed(2)},${base} Z` }, svg);
    el('path', { class: 'curve-line', d: line, 'data-points': n }, svg);

    this.chapterTitles(svg, this.data.chapters ?? []);
    this.strip(svg, values, durationMs);
    this.axis(svg, durationMs);
    for (const h of hotspots) this.marker(svg, h);

    const bottom = MARGIN.top + CURVE_HEIGHT + GAP + STRIP_HEIGHT;
    this.cursor = el('g', { class: 'cursor', visibility: 'hidden' }, svg);
    el('line', { x1: 0, x2: 0, y1: MARGIN.top, y2: bottom }, this.cursor);
    this.cursorDot = el('circle', { r: 4.5, cx: 0, cy: 0 }, this.cursor);
    this.playhead = el('g', { class: 'playhead', visibility: 'hidden' }, svg);
    el('line', { x1: 0, x2: 0, y1: MARGIN.top - 6, y2: bottom }, this.playhead);

    // One transparent layer takes the pointer, so the hover never flickers between shapes.
    const hit = el('rect', { class: 'hit', x: MARGIN.left, y: MARGIN.top - 26, width: this.plotWidth, height: bottom - MARGIN.top + 26 }, svg);
    hit.addEventListener('pointermove', (event) => {
      this.keyboard = false;
      this.show(this.bucketAt(event), true);
    });
    hit.addEventListener('pointerleave', () => this.hide());
    hit.addEventListener('click', (event) => this.pick(this.bucketAt(event), this.hotspotAt(event)));
    this.svg = svg;
    this.container.replaceChildren(svg, this.tooltip);
    this.setPlayhead(this.playheadMs);
    if (this.index !== null && this.keyboard && document.activeElement === this.container) this.show(this.index, false);
  }

  defs(svg) {
    const defs = el('defs', {}, svg);
    const gradient = el('linearGradient', { id: 'curve-fill', x1: 0, x2: 0, y1: 0, y2: 1 }, defs);
    el('stop', { offset: '0%', class: 'curve-fill-top' }, gradient);
    el('stop', { offset: '100%', class: 'curve-fill-bottom' }, gradient);
    const hatch = el('pattern', { id: 'cold-hatch', width: 7, height: 7, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' }, defs);
    el('rect', { width: 7, height: 7, class: 'cold-hatch-bg' }, hatch);
    el('line', { x1: 0, y1: 0, x2: 0, y2: 7, class: 'cold-hatch-line' }, hatch);
  }

  grid(svg) {
    const g = el('g', { class: 'grid' }, svg);
    const { top, step } = this.scale;
    for (let k = 0; k * step <= top + 1e-9; k++) {
      const share = k * step;
      const py = this.y(share);
      el('line', { x1: MARGIN.left, x2: MARGIN.left + this.plotWidth, y1: py, y2: py, class: k ? '' : 'baseline' }, g);
      el('text', { x: MARGIN.left - 8, y: py, class: 'y-label' }, g).textContent = `${Math.round(share * 100)}%`;
    }
    const label = el('text', { x: 14, y: MARGIN.top + CURVE_HEIGHT / 2, class: 'axis-title', transform: `rotate(-90 14 ${MARGIN.top + CURVE_HEIGHT / 2})` }, g);
    label.textContent = 'viewers watching';
  }

  /** Each chapter as a stretch behind the curve (alternately shaded) with a line where it starts. */
  chapterBands(svg, chapters) {
    const g = el('g', { class: 'chapters' }, svg);
    chapters.filter((c) => c.end_ms > c.start_ms).forEach((c, i) => {
      const x0 = this.x(c.start_ms);
      el('rect', { class: `chapter-band ${i % 2 ? 'odd' : 'even'}`, x: x0, y: MARGIN.top, width: this.x(c.end_ms) - x0, height: CURVE_HEIGHT, 'data-title': c.title }, g);
      if (c.start_ms > 0) el('line', { class: 'chapter-edge', x1: x0, x2: x0, y1: MARGIN.top, y2: MARGIN.top + CURVE_HEIGHT }, g);
    });
  }

  /** Each chapter's title at its top-left, over the curve (haloed), shortened to its width. */
  chapterTitles(svg, chapters) {
    const g = el('g', { class: 'chapter-titles' }, svg);
    for (const c of chapters.filter((c) => c.end_ms > c.start_ms)) {
      const x0 = this.x(c.start_ms);
      const fits = Math.floor((this.x(c.end_ms) - x0 - 8) / CHAPTER_TITLE_CHAR_PX);
      if (fits < MIN_CHAPTER_TITLE_CHARS) continue;
      const title = c.title.length <= fits ? c.title : `${c.title.slice(0, fits - 1)}…`;
      el('text', { class: 'chapter-title', x: x0 + 4, y: MARGIN.top + 13 }, g).textContent = title;
    }
  }

  band(parent, h) {
    const x0 = this.x(h.start_ms);
    const w = Math.max(2, this.x(h.end_ms) - x0);
    el('rect', { class: `band ${h.kind}`, x: x0, y: MARGIN.top, width: w, height: CURVE_HEIGHT, 'data-label': h.label }, parent);
    // The same range outlined on the heat strip below.
    el('rect', { class: `band-outline ${h.kind}`, x: x0, y: MARGIN.top + CURVE_HEIGHT + GAP - 2, width: w, height: STRIP_HEIGHT + 4 }, parent);
  }

  marker(svg, h) {
    const cx = (this.x(h.start_ms) + this.x(h.end_ms)) / 2;
    const g = el('g', { class: `marker ${h.kind}` }, svg);
    el('text', { x: cx, y: MARGIN.top - 10 }, g).textContent = `${KINDS[h.kind].marker} ${h.label}`;
  }

  strip(svg, values, durationMs) {
    const g = el('g', { class: 'strip', 'shape-rendering': 'crispEdges' }, svg);
    const y = MARGIN.top + CURVE_HEIGHT + GAP;
    const n = values.length;
    values.forEach((v, i) => {
      const x0 = this.x(bucketStart(i, durationMs, n));
      const x1 = this.x(bucketStart(i + 1, durationMs, n));
      // Overlap by half a pixel so thin buckets leave no hairline gaps.
      el('rect', { x: x0.toFixed(2), y, width: (x1 - x0 + 0.5).toFixed(2), height: STRIP_HEIGHT, fill: heatColour(v / this.scale.top) }, g);
    });
    el('rect', { class: 'strip-frame', x: MARGIN.left, y, width: this.plotWidth, height: STRIP_HEIGHT }, svg);
  }

  axis(svg, durationMs) {
    const g = el('g', { class: 'axis' }, svg);
    const y = MARGIN.top + CURVE_HEIGHT + GAP + STRIP_HEIGHT;
    for (const t of timeTicks(durationMs, this.plotWidth)) {
      const px = this.x(t);
      el('line', { x1: px, x2: px, y1: y, y2: y + 5 }, g);
      const label = el('text', { x: px, y: y + 19 }, g);
      label.textContent = this.data.formatTime(t);
      if (t === 0) label.setAttribute('text-anchor', 'start');
      else if (px > MARGIN.left + this.plotWidth - 24) label.setAttribute('text-anchor', 'end');
    }
  }

  bucketAt(event) {
    const box = this.svg.getBoundingClientRect();
    const fraction = (event.clientX - box.left - MARGIN.left) / this.plotWidth;
    return Math.min(this.data.values.length - 1, Math.max(0, Math.floor(fraction * this.data.values.length)));
  }

  hotspotAt(event) {
    const box = this.svg.getBoundingClientRect();
    const ms = ((event.clientX - box.left - MARGIN.left) / this.plotWidth) * this.data.durationMs;
    return this.data.hotspots.find((h) => ms >= h.start_ms && ms < h.end_ms) ?? null;
  }

  /** Clicking inside a hotspot plays it from its start; anywhere else, from that bucket. */
  pick(index, hotspot) {
    const { durationMs, values } = this.data;
    this.options.onSeek(hotspot ? hotspot.start_ms : bucketStart(index, durationMs, values.length));
  }

  describe(index) {
    const { values, durationMs, hotspots, formatTime } = this.data;
    const start = bucketStart(index, durationMs, values.length);
    const end = bucketStart(index + 1, durationMs, values.length);
    const inside = hotspots.find((h) => start < h.end_ms && end > h.start_ms);
    const where = inside ? `${KINDS[inside.kind].marker} ${KINDS[inside.kind].name} ${inside.label} (score ${inside.score.toFixed(2)}; 0.5 = as expected)` : '';
    const chapter = chaptersOf(this.data.chapters ?? [], start, end).join(' → ');
    return { time: `${formatTime(start)}–${formatTime(end)}`, value: `${percent(values[index])} of viewers`, where,
      chapter: chapter && `Chapter: ${chapter}` };
  }

  show(index, fromPointer) {
    if (!this.data) return;
    this.index = index;
    const { values, durationMs } = this.data;
    const cx = this.x(((index + 0.5) * durationMs) / values.length);
    this.cursor.setAttribute('visibility', 'visible');
    this.cursor.setAttribute('transform', `translate(${cx},0)`);
    this.cursorDot.setAttribute('cy', this.y(values[index]));
    const text = this.describe(index);
    const rows = [['tooltip-time', text.time], ['tooltip-value', text.value]];
    if (text.where) rows.push(['tooltip-where', text.where]);
    if (text.chapter) rows.push(['tooltip-chapter', text.chapter]);
    this.tooltip.replaceChildren(...rows.map(([cls, content]) => Object.assign(document.createElement('div'), { className: cls, textContent: content })));
    this.tooltip.hidden = false;
    // Keep the tooltip inside the chart: flip it to the left of the cursor near the right edge.
    const width = this.tooltip.offsetWidth;
    const left = cx + 14 + width > this.container.clientWidth ? cx - 14 - width : cx + 14;
    this.tooltip.style.left = `${Math.max(0, left)}px`;
    this.tooltip.style.top = `${Math.max(4, this.y(values[index]) - 56)}px`;
    if (!fromPointer) this.options.announce(`${text.time}: ${text.value}. ${text.where} ${text.chapter}`.trim());
  }

  hide() {
    if (this.keyboard && document.activeElement === this.container) return;
    this.tooltip.hidden = true;
    this.cursor?.setAttribute('visibility', 'hidden');
  }

  onKey(event) {
    if (!this.data) return;
    const n = this.data.values.length;
    const current = this.index ?? 0;
    const big = Math.max(1, Math.round(n / 20));
    const moves = { ArrowRight: 1, ArrowLeft: -1, PageDown: big, PageUp: -big };
    let next = null;
    if (Object.hasOwn(moves, event.key)) next = current + moves[event.key] * (event.shiftKey ? 10 : 1);
    else if (event.key === 'Home') next = 0;
    else if (event.key === 'End') next = n - 1;
    else if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      this.pick(current, null);
      return;
    } else return;
    event.preventDefault();
    this.keyboard = true;
    this.show(Math.min(n - 1, Math.max(0, next)), false);
  }
}
