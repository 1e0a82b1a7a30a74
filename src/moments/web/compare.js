// "Compared with": the content's curve against the typical curve of similar-length content
// (/relative), and against another timeframe or another playback ID of the same asset
// (/compare), each as a small SVG chart. Every number comes from the API.
//
// Curves are drawn through bucket midpoints by relative position (0..100 % of the content),
// which is how the API puts curves of different lengths on one grid.

import { html, svg } from './dom.js';
import * as format from './format.js';
import * as timeframes from './timeframe.js';

// The small charts' coordinate box (viewBox): the tests read the curves' vertices in it.
export const BOX = { width: 600, height: 160, pad: 8 };
const KIND_NAMES = { assets: 'assets', videos: 'video IDs', 'playback-ids': 'playback IDs' };

/** "M x,y L x,y ..." through the bucket midpoints; y = pad + (1 - value) * (height - 2 pad). */
export function curvePath(values) {
  const inner = BOX.height - 2 * BOX.pad;
  return values.map((v, i) => {
    const x = ((i + 0.5) / values.length) * BOX.width;
    const y = BOX.pad + (1 - v) * inner;
    return `${i ? 'L' : 'M'}${x.toFixed(2)},${y.toFixed(2)}`;
  }).join(' ');
}

const SHARES = [1, 0.75, 0.5, 0.25, 0];
const QUARTERS = [0, 0.25, 0.5, 0.75, 1];

/** The x axis's labels at 0, ¼, ½, ¾ and the end: media times when both sides last `durationMs`,
 * else positions in the content (curves of different lengths are stretched to one grid). */
function positionLabels(durationMs) {
  const time = durationMs ? format.timeFormatter(durationMs) : null;
  return QUARTERS.map((q) => (time ? time(q * durationMs) : `${q * 100}%`));
}

/** [[first, last], ...]: the runs of true in `flags` (bucket indexes, inclusive). */
export function runs(flags) {
  const out = [];
  flags.forEach((flag, i) => {
    if (!flag) return;
    if (out.length && out.at(-1)[1] === i - 1) out.at(-1)[1] = i;
    else out.push([i, i]);
  });
  return out;
}

/** A small chart of several curves: [{values, className, label}], with a % axis (as the main
 * chart's), a position axis and a legend below; `marked` (a flag per bucket) shades the stretches
 * where the curves differ beyond chance. The curves' SVG is stretched to the panel's width; the
 * axes are HTML beside it, so their text is never stretched with it. */
function smallChart(curves, title, xLabels, xTitle, marked = []) {
  const chart = svg('svg', { viewBox: `0 0 ${BOX.width} ${BOX.height}`, class: 'compare-chart', role: 'img', 'aria-label': title, preserveAspectRatio: 'none' });
  for (const [first, last] of runs(marked)) {
    const x = (first / marked.length) * BOX.width;
    svg('rect', { x, y: 0, width: ((last + 1) / marked.length) * BOX.width - x, height: BOX.height, class: 'compare-significant' }, chart);
  }
  for (const share of SHARES) {
    const y = BOX.pad + (1 - share) * (BOX.height - 2 * BOX.pad);
    svg('line', { x1: 0, x2: BOX.width, y1: y, y2: y, class: share ? 'compare-grid' : 'compare-grid baseline' }, chart);
  }
  for (const curve of curves) {
    const path = svg('path', { d: curvePath(curve.values), class: `compare-curve ${curve.className}` }, chart);
    path.dataset.curve = curve.className;
    if (curve.dashed) path.setAttribute('stroke-dasharray', '6 4');
  }
  const yAxis = html('div', { className: 'compare-y', ariaHidden: 'true' }, ...SHARES.map((share) => {
    const label = html('span', { textContent: `${share * 100}%` });
    label.style.top = `${BOX.pad + (1 - share) * (BOX.height - 2 * BOX.pad)}px`;
    return label;
  }));
  const xAxis = html('div', { className: 'compare-x', ariaHidden: 'true' }, ...xLabels.map((text) => html('span', { textContent: text })));
  const keys = curves.map((curve) => [curve.className, curve.label]).concat(marked.some(Boolean) ? [['significant', 'beyond chance']] : []);
  const legend = html('p', { className: 'compare-legend' }, ...keys.map(([className, label]) => html('span',
    { className: `compare-key ${className}` }, html('span', { className: 'compare-swatch' }), label)));
  return html('figure', { className: 'compare-figure' },
    html('div', { className: 'compare-plot' }, yAxis, chart, html('span'), xAxis),
    html('p', { className: 'compare-axis-title', textContent: `Viewers watching (%) by ${xTitle}` }), legend);
}

/** What tells one side from the other, in words: its id, its dates, or both (never epoch seconds). */
export function sideLabel(side, other) {
  const dates = format.dateRange(side.timeframe);
  const sameWindow = side.timeframe[0] === other.timeframe[0] && side.timeframe[1] === other.timeframe[1];
  if (side.id === other.id) return dates;
  return sameWindow ? side.id : `${side.id} (${dates})`;
}

/** The overall figures in words, as the CLI prints them. */
export function overallWords(overall, peers, kind, band) {
  const parts = [];
  if (overall.ratio !== null) {
    const change = Math.round((overall.ratio - 1) * 100);
    parts.push(change === 0 ? 'Retains as much as similar content'
      : `Retains ${Math.abs(change)}% ${change > 0 ? 'more' : 'less'} than similar content`);
  }
  const range = `${format.mediaTime(band.min_ms)}–${format.mediaTime(band.max_ms)}`;
  parts.push(`better than ${Math.round(overall.better_than * 100)}% of the ${peers} ${KIND_NAMES[kind]} of ${range} in this environment`);
  const sentence = parts.join('; ');
  return `${sentence.charAt(0).toUpperCase()}${sentence.slice(1)}.`;
}

/** The API's verdict on /relative in words (docs/engagement.md, "Is the difference real?"). */
export function relativeVerdictWords(data) {
  if (data.verdict_note) return `No verdict: ${data.verdict_note}.`;
  const moments = data.significant.filter(Boolean).length;
  return `On average ${data.average_significant ? 'beyond' : 'within'} chance of similar content; `
    + `${format.plural(moments, 'moment')} of ${data.significant.length} differ beyond chance.`;
}

/** The "previous period" of an effective window: the same length, just before it. */
const previousPeriod = ([start, end]) => [String(2 * start - end), String(start)];

export class ComparePanel {
  /**
   * @param {HTMLElement} container  the panel's <section>, filled in here
   * @param {{fail: (error: Error, retry: () => void) => void}} options
   */
  constructor(container, { fail }) {
    this.container = container;
    this.fail = fail;
    this.seq = 0;
    this.current = null; // {api, kind, id, timeframe}
    this.window = null; // the effective window of the relative answer, for "previous period"
    this.against = ''; // the compare choice: '', 'previous', 'tf:24:hours', 'id:PLAYBACK_ID'
    this.relativeBox = html('div', { className: 'compare-block', id: 'relative-block' });
    this.select = html('select', { id: 'compare-with' });
    this.select.addEventListener('change', () => {
      this.against = this.select.value;
      this.loadComparison();
    });
    this.compareBox = html('div', { className: 'compare-result', id: 'compare-result' });
    container.replaceChildren(
      html('h3', { id: 'compare-title', textContent: 'Compared with' }),
      html('h4', { textContent: 'Similar content' }),
      this.relativeBox,
      html('div', { className: 'compare-control' },
        html('label', { htmlFor: 'compare-with', textContent: 'Compare with' }), this.select),
      this.compareBox,
    );
  }

  clear() {
    this.seq++;
    this.current = null;
    this.container.hidden = true;
  }

  /** Load both parts for this content and timeframe (the compare choice survives a timeframe change). */
  async show(current) {
    const sameContent = this.current && this.current.kind === current.kind && this.current.id === current.id;
    if (!sameContent) {
      // Never leave another content's curves on screen while this one loads.
      this.against = '';
      this.relativeBox.replaceChildren();
      this.compareBox.replaceChildren();
      delete this.container.dataset.shows;
    }
    this.current = current;
    const seq = ++this.seq;
    this.container.hidden = false;
    this.container.setAttribute('aria-busy', 'true');
    try {
      const [relative, siblings] = await Promise.all([
        current.api.relative(current.kind, current.id, current.timeframe),
        this.siblings(current),
      ]);
      if (seq !== this.seq) return;
      this.window = relative.timeframe;
      this.showRelative(relative);
      this.fillChoices(siblings);
      this.container.dataset.shows = `${current.kind}/${current.id}`; // what is on screen (tests wait for it)
      await this.loadComparison(seq);
    } catch (error) {
      if (seq === this.seq) this.fail(error, () => this.show(current));
    } finally {
      if (seq === this.seq) this.container.removeAttribute('aria-busy');
    }
  }

  /** The other playback IDs of this playback ID's asset (only those can be compared with it);
   * an unregistered one has none, and is not asked about (that would be a 404). */
  async siblings({ api, kind, id, registered }) {
    if (kind !== 'playback-ids' || !registered) return [];
    const found = await api.playbackId(id);
    return (found.data.asset?.playback_ids ?? []).filter((other) => other !== id);
  }

  showRelative(body) {
    const { data } = body;
    const kindName = KIND_NAMES[this.current.kind];
    if (!data.typical.length) {
      const why = !data.total_views ? 'no views in this timeframe'
        : `too few similar ${kindName} (${data.peers} of ${format.mediaTime(data.band.min_ms)}–${format.mediaTime(data.band.max_ms)} `
          + 'with enough views in this timeframe; 3 are needed)';
      this.relativeBox.replaceChildren(html('p', { className: 'empty-note', id: 'relative-summary',
        textContent: `No typical curve: ${why}. Peers are other ${kindName} `
          + 'between half and twice this length, with their views in the same timeframe.' }));
      return;
    }
    const summary = html('p', { className: 'compare-summary', id: 'relative-summary',
      textContent: `${overallWords(data.overall, data.peers, this.current.kind, data.band)} ${relativeVerdictWords(data)}` });
    const chart = smallChart([
      { values: data.value, className: 'this', label: `this ${this.current.kind === 'assets' ? 'asset' : 'content'}` },
      { values: data.typical, className: 'typical', label: `typical of ${data.peers} similar ${kindName} (median)`, dashed: true },
    ], `This content's curve against the typical curve of similar content. ${summary.textContent}`,
    positionLabels(null), 'position in the content (similar content stretched to this length)', data.significant);
    this.relativeBox.replaceChildren(summary, chart);
  }

  fillChoices(siblings) {
    const options = [html('option', { value: '', textContent: 'Nothing (pick a timeframe or a playback ID)' })];
    const periods = html('optgroup', { label: 'The same content over' });
    periods.append(html('option', { value: 'previous', textContent: 'The period just before' }),
      ...timeframes.PRESETS.map((p) => html('option', { value: `tf:${p.value}`, textContent: p.title })));
    options.push(periods);
    if (siblings.length) {
      const group = html('optgroup', { label: 'Another playback ID of this asset' });
      group.append(...siblings.map((other) => html('option', { value: `id:${other}`, textContent: other })));
      options.push(group);
    }
    this.select.replaceChildren(...options);
    if (![...this.select.options].some((o) => o.value === this.against)) this.against = '';
    this.select.value = this.against;
  }

  /** The API's parameters for the current choice. */
  otherSide() {
    if (this.against === 'previous') return { against_timeframe: previousPeriod(this.window) };
    if (this.against.startsWith('tf:')) return { against_timeframe: [this.against.slice(3)] };
    return { against: this.against.slice(3) };
  }

  async loadComparison(seq = ++this.seq) {
    if (!this.against) {
      this.compareBox.replaceChildren();
      return;
    }
    const { api, kind, id, timeframe } = this.current;
    try {
      const body = await api.compare(kind, id, timeframe, this.otherSide());
      if (seq === this.seq) this.showComparison(body);
    } catch (error) {
      if (seq === this.seq) this.fail(error, () => this.loadComparison());
    }
  }

  showComparison({ data }) {
    const { difference } = data;
    const [a, b] = [[data.a, data.b], [data.b, data.a]].map(([side, other]) => ({ ...side, label: sideLabel(side, other) }));
    const describe = (side) => `${side.label} (${format.plural(side.total_views, 'view')})`;
    if (!difference.length) {
      this.compareBox.replaceChildren(html('p', { className: 'empty-note', id: 'compare-summary',
        textContent: `Nothing to compare: ${[a, b].filter((s) => !s.total_views).map((s) => s.label).join(' and ')} has no views.` }));
      return;
    }
    const sameLength = a.duration_ms === b.duration_ms;
    const mean = (values) => values.reduce((sum, v) => sum + v, 0) / values.length;
    const points = Math.round((mean(b.value) - mean(a.value)) * 100);
    // The API's verdict (docs/engagement.md, "Is the difference real?"): no number without one.
    const moments = data.significant.filter(Boolean).length;
    const summary = html('p', { className: 'compare-summary', id: 'compare-summary',
      textContent: data.verdict_note ? `${describe(b)} against ${describe(a)}: ${data.verdict_note}.`
        : points === 0 ? `${describe(b)} retains as much as ${describe(a)} on average.`
          : `${describe(b)} retains ${Math.abs(points)} points ${points > 0 ? 'more' : 'less'} of the content than ${describe(a)} on average`
            + (data.average_significant ? `, beyond chance; ${format.plural(moments, 'moment')} of ${data.significant.length} differ.`
              : ', within chance.') });
    this.compareBox.replaceChildren(summary, smallChart([
      { values: a.value, className: 'side-a', label: a.label },
      { values: b.value, className: 'side-b', label: b.label, dashed: true },
    ], summary.textContent, positionLabels(sameLength ? a.duration_ms : null),
    sameLength ? 'moment of the content' : 'position in the content (stretched to one length)', data.significant));
  }
}
