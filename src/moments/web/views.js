// The "Views" panel: the selected content's counted views, newest first, a page at a time, and
// one chosen view's watch path on the content's timeline: each stretch of play a bar on its own
// lane (top to bottom in play order), each seek an arrow from where it left to where it landed,
// and a marker where the view ended. The same steps are an ordered list (what screen readers read;
// the drawing is hidden from them).

import { html, svg } from './dom.js';
import * as format from './format.js';

export const PAGE_SIZE = 10;
const HEADINGS = ['Started', 'Watched', 'Seeks', 'Ended', 'Country', 'Device', 'View'];
const WIDTH = 800; // drawn in a viewBox, scaled to the panel's width
const MARGIN = { left: 16, right: 16, top: 12, bottom: 28 };
const LANE = 16;
const LANE_GAP = 10;
const ENDINGS = { completed: 'completed', left: 'left', in_progress: 'in progress', not_played: 'never played' };

/** "left at 1:30", "completed", "in progress (at 3:00)", "never played". */
export function endingText(ended, time) {
  if (ended.kind === 'left') return `left at ${time(ended.at_ms)}`;
  if (ended.kind === 'in_progress' && ended.at_ms !== null) return `in progress (at ${time(ended.at_ms)})`;
  return ENDINGS[ended.kind] ?? ended.kind;
}

/** "0:00–1:35 play", "seek 1:35 → 5:00 (forward)". */
export function stepText(step, time) {
  return step.type === 'play'
    ? `${time(step.start_ms)}–${time(step.end_ms)} play`
    : `seek ${time(step.from_ms)} → ${time(step.to_ms)} (${step.direction})`;
}

export class ViewsPanel {
  /**
   * @param {HTMLElement} root  an empty <section>; the panel builds its contents inside
   * @param {{fail: (error: Error, retry: Function) => void}} options  how failures are shown
   */
  constructor(root, options) {
    this.root = root;
    this.options = options;
    this.query = null; // {api, kind, id, timeframe}
    this.cursors = [null]; // cursors[p] asks for page p; Previous walks back, Next takes the last one
    this.page = 0;
    this.seq = 0; // only the latest page request's answer is drawn
    this.pathSeq = 0; // and only the latest chosen view's
    this.build();
  }

  build() {
    this.status = html('p', { className: 'empty-note views-status', id: 'views-status', role: 'status' });
    this.rows = html('tbody', { id: 'views-rows' });
    this.table = html('table', { className: 'views-table', id: 'views-table' },
      html('caption', { className: 'visually-hidden', textContent: 'Views, newest first. Choose a view to see its watch path.' }),
      html('thead', {}, html('tr', {}, ...HEADINGS.map((h) => html('th', { scope: 'col', textContent: h })))),
      this.rows);
    this.prev = html('button', { type: 'button', className: 'button', id: 'views-prev', textContent: 'Previous', title: 'Newer views' });
    this.next = html('button', { type: 'button', className: 'button', id: 'views-next', textContent: 'Next', title: 'Older views' });
    this.pageLabel = html('span', { id: 'views-page', className: 'views-page' });
    this.prev.addEventListener('click', () => this.load(this.page - 1));
    this.next.addEventListener('click', () => this.load(this.page + 1));
    this.pathTitle = html('h4', { id: 'view-path-title' });
    this.pathSummary = html('p', { className: 'empty-note', id: 'view-path-summary' });
    this.drawing = html('div', { className: 'view-path-drawing', id: 'view-path-drawing' });
    this.steps = html('ol', { className: 'view-path-steps', id: 'view-path-steps' });
    this.steps.setAttribute('aria-labelledby', 'view-path-title');
    this.path = html('div', { className: 'view-path', id: 'view-path', hidden: true },
      this.pathTitle, this.pathSummary, this.drawing, this.steps);
    this.root.append(
      html('h3', { id: 'views-title', textContent: 'Views' }), this.status, this.table,
      html('div', { className: 'views-pager' }, this.prev, this.pageLabel, this.next), this.path);
  }

  /** New content or timeframe: the first page, and no view chosen. */
  show(query) {
    this.query = query;
    this.cursors = [null];
    this.hidePath();
    this.load(0);
  }

  clear() {
    this.seq++;
    this.pathSeq++;
    this.query = null;
    this.rows.replaceChildren();
    this.hidePath();
    this.root.hidden = true;
  }

  hidePath() {
    this.pathSeq++;
    this.path.hidden = true;
    this.drawing.replaceChildren();
    this.steps.replaceChildren();
  }

  async load(page) {
    const seq = ++this.seq;
    const { api, kind, id, timeframe } = this.query;
    this.root.hidden = false;
    this.root.setAttribute('aria-busy', 'true');
    try {
      const body = await api.views(kind, id, timeframe, this.cursors[page], PAGE_SIZE);
      if (seq !== this.seq) return;
      this.page = page;
      this.cursors = [...this.cursors.slice(0, page + 1), ...(body.next_cursor ? [body.next_cursor] : [])];
      this.render(body, page);
    } catch (error) {
      if (seq === this.seq) this.options.fail(error, () => this.load(page));
    } finally {
      if (seq === this.seq) this.root.removeAttribute('aria-busy');
    }
  }

  render(body, page) {
    const first = page * PAGE_SIZE + 1;
    const total = body.total_row_count;
    this.status.textContent = total
      ? `${format.count(first)}–${format.count(first + body.data.length - 1)} of ${format.plural(total, 'view')}, newest first.`
      : 'No counted views in this timeframe.';
    this.table.hidden = !total;
    this.rows.replaceChildren(...body.data.map((view) => this.row(view)));
    this.prev.disabled = page === 0;
    this.next.disabled = this.cursors.length <= page + 1;
    this.prev.hidden = this.next.hidden = this.pageLabel.hidden = !total;
    this.pageLabel.textContent = `Page ${page + 1} of ${Math.max(1, Math.ceil(total / PAGE_SIZE))}`;
  }

  row(view) {
    const time = format.timeFormatter(view.duration_ms);
    const started = format.date(view.view_start / 1000);
    const button = html('button', { type: 'button', className: 'view-pick', textContent: view.view_id });
    button.setAttribute('aria-label', `Watch path of view ${view.view_id}`);
    button.addEventListener('click', () => this.choose(view.view_id, button));
    const cells = [started, `${time(view.watched_ms)} (${time(view.unique_watched_ms)} unique)`, String(view.seeks),
      endingText(view.ended, time), view.country ?? '—', view.device_type ?? '—'];
    // data-label: the column's name, which a phone's card layout writes above each value.
    const tr = html('tr', {}, ...cells.map((text) => html('td', { textContent: text })),
      html('td', { className: 'view-cell' }, button));
    [...tr.cells].forEach((cell, i) => { cell.dataset.label = HEADINGS[i]; });
    tr.dataset.viewId = view.view_id;
    return tr;
  }

  async choose(viewId, button) {
    const seq = ++this.pathSeq;
    for (const other of this.rows.querySelectorAll('.view-pick')) other.setAttribute('aria-pressed', String(other === button));
    try {
      const body = await this.query.api.view(viewId);
      if (seq === this.pathSeq) this.showPath(body.data);
    } catch (error) {
      if (seq === this.pathSeq) this.options.fail(error, () => this.choose(viewId, button));
    }
  }

  showPath(view) {
    const ends = view.path.flatMap((s) => (s.type === 'play' ? [s.end_ms] : []));
    const durationMs = view.duration_ms || Math.max(1, ...ends); // unknown duration: as far as it played
    const time = format.timeFormatter(durationMs);
    this.pathTitle.textContent = `Watch path of view ${view.view_id}`;
    this.pathSummary.textContent = `Watched ${time(view.watched_ms)} (${time(view.unique_watched_ms)} unique) of `
      + `${time(durationMs)}, ${format.plural(view.seeks, 'seek')}; ${endingText(view.ended, time)}.`;
    const items = view.path.map((step) => {
      const li = html('li', { className: `step ${step.type}`, textContent: stepText(step, time) });
      li.dataset.type = step.type;
      return li;
    });
    items.push(html('li', { className: 'step end', textContent: `ended: ${endingText(view.ended, time)}` }));
    this.steps.replaceChildren(...items);
    this.drawing.replaceChildren(this.draw(view, durationMs, time));
    this.path.hidden = false;
  }

  /** The path as SVG: lanes of plays in play order, seek arrows between them, the end marked. */
  draw(view, durationMs, time) {
    const plays = view.path.filter((s) => s.type === 'play');
    const lanes = Math.max(1, plays.length);
    const height = MARGIN.top + lanes * (LANE + LANE_GAP) + MARGIN.bottom;
    const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
    const x = (ms) => MARGIN.left + (Math.min(ms, durationMs) / durationMs) * plotWidth;
    const mid = (lane) => MARGIN.top + lane * (LANE + LANE_GAP) + LANE / 2;
    const root = svg('svg', { viewBox: `0 0 ${WIDTH} ${height}`, class: 'view-path-svg', 'aria-hidden': 'true' });
    const defs = svg('defs', {}, root);
    const arrow = svg('marker', { id: 'seek-arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, defs);
    svg('path', { d: 'M0,0 L10,5 L0,10 Z', class: 'seek-head' }, arrow);
    const axisY = height - MARGIN.bottom + 6;
    svg('line', { x1: x(0), x2: x(durationMs), y1: axisY, y2: axisY, class: 'path-axis' }, root);
    for (let k = 0; k <= 4; k++) {
      const ms = (durationMs * k) / 4;
      svg('text', { x: x(ms), y: axisY + 16, class: 'path-tick' }, root).textContent = time(ms);
    }
    let lane = -1;
    for (const step of view.path) {
      if (step.type === 'play') {
        lane++;
        svg('rect', { x: x(step.start_ms), y: mid(lane) - LANE / 2, width: Math.max(2, x(step.end_ms) - x(step.start_ms)), height: LANE, rx: 3, class: 'path-play', 'data-lane': lane }, root);
      } else {
        svg('line', { x1: x(step.from_ms), y1: mid(lane) + LANE / 2, x2: x(step.to_ms), y2: mid(lane + 1) - LANE / 2, class: `path-seek ${step.direction}`, 'marker-end': 'url(#seek-arrow)' }, root);
      }
    }
    if (view.ended.at_ms !== null) {
      const g = svg('g', { class: `path-end ${view.ended.kind}` }, root);
      svg('circle', { cx: x(view.ended.at_ms), cy: mid(Math.max(0, lane)), r: 6 }, g);
      svg('text', { x: x(view.ended.at_ms) + 10, y: mid(Math.max(0, lane)) + 4, class: 'path-end-label' }, g).textContent = ENDINGS[view.ended.kind];
    }
    return root;
  }
}
