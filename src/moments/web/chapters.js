// Chapters: the content's asset's chapters (GET .../chapters, docs/engagement.md "Chapters").
// The panel holds each chapter's figures with their 95% intervals and where in it viewers
// leave (ten bars, one per tenth of the chapter); chart.js draws the chapters as bands on the
// timeline, and the hotspot list names the chapter each hotspot is in.

import { html, svg } from './dom.js';
import * as format from './format.js';

const TENTH_BAR = { width: 100, height: 22 };
// The columns after the chapter's; on a phone each cell names its column (chapters.css).
const HEADINGS = { reached: 'Reached', finished: 'Finished', average_watched: 'Watched', leaves: 'Where they leave' };

/** The titles of the chapters a stretch [startMs, endMs) overlaps, in order. */
export function chaptersOf(chapters, startMs, endMs) {
  return chapters.filter((c) => c.end_ms > c.start_ms && c.start_ms < endMs && c.end_ms > startMs).map((c) => c.title);
}

/** A table cell that names its column (a phone shows the name above the value). */
function labelled(cell, label) {
  cell.dataset.label = label;
  return cell;
}

const shareText = (value) => (value === null ? '—' : format.percent(value));
const intervalText = (interval) => (interval ? `${format.percent(interval[0])}–${format.percent(interval[1])}` : '');

export class ChaptersPanel {
  /**
   * @param {HTMLElement} root  an empty <section>; the panel builds its contents inside
   * @param {{onSeek: (ms: number) => void}} options
   */
  constructor(root, options) {
    this.root = root;
    this.options = options;
    this.status = html('p', { className: 'empty-note', id: 'chapters-status', role: 'status' });
    this.rows = html('tbody', { id: 'chapters-rows' });
    this.table = html('table', { className: 'chapters-table', id: 'chapters-table' },
      html('caption', { className: 'visually-hidden', textContent: 'Each chapter: the share of views that reached it and finished it, the share of it they watched, and where those who left it left.' }),
      html('thead', {}, html('tr', {}, ...['Chapter', ...Object.values(HEADINGS)].map((h) => html('th', { scope: 'col', textContent: h })))),
      this.rows);
    this.key = html('p', { className: 'chapters-key', id: 'chapters-key', textContent:
      'Reached: watched any of it. Finished: watched its last second. Watched: the share of it a view that reached it '
      + 'watched. Where they leave: the viewers who left it before its end (closed or skipped ahead), by tenth of the '
      + 'chapter, and the median moment. Under each share, its 95% interval.' });
    root.replaceChildren(html('h3', { id: 'chapters-title', textContent: 'Chapters' }), this.status,
      html('div', { className: 'chapters-scroll' }, this.table), this.key);
    this.clear();
  }

  clear() {
    this.root.hidden = true;
    this.rows.replaceChildren();
  }

  loading() {
    this.root.hidden = false;
    this.status.textContent = 'Loading the chapters…';
    this.table.hidden = this.key.hidden = true;
  }

  failed(error) {
    this.root.hidden = false;
    this.status.textContent = `The chapters could not be loaded: ${error.message}`;
    this.table.hidden = this.key.hidden = true;
  }

  /** @param {object} report  the /chapters body; @param {(ms: number) => string} formatTime */
  show(report, formatTime) {
    const { chapters, note, asset_id: asset, total_views: views } = report.data;
    this.root.hidden = false;
    const hasChapters = chapters.length > 0;
    this.table.hidden = this.key.hidden = !hasChapters;
    this.status.textContent = hasChapters
      ? `The chapters of asset ${asset}, over ${format.plural(views, 'view')}. Click a chapter to play it.`
      : `No chapters: ${note}.`;
    const highest = Math.max(1e-9, ...chapters.flatMap((c) => c.leaves_by_tenth));
    this.rows.replaceChildren(...chapters.map((c) => this.row(c, formatTime, highest)));
  }

  row(chapter, formatTime, highest) {
    const button = html('button', { type: 'button', className: 'chapter-seek' },
      html('span', { className: 'chapter-title', textContent: chapter.title }),
      html('span', { className: 'chapter-range', textContent: `${formatTime(chapter.start_ms)}–${formatTime(chapter.end_ms)}` }));
    button.addEventListener('click', () => this.options.onSeek(chapter.start_ms));
    const share = (name) => labelled(html('td', { className: `chapter-${name}` },
      html('span', { className: 'chapter-value', textContent: shareText(chapter[name]) }),
      html('span', { className: 'chapter-interval', textContent: intervalText(chapter.intervals[name]) })), HEADINGS[name]);
    const tr = html('tr', {}, html('th', { scope: 'row' }, button), share('reached'), share('finished'),
      share('average_watched'), this.leaves(chapter, formatTime, highest));
    Object.assign(tr.dataset, { startMs: chapter.start_ms, endMs: chapter.end_ms });
    return tr;
  }

  /** Ten bars, one per tenth of the chapter (the share of all views leaving there, on one scale
   * for every chapter), and the median moment of those who left. */
  leaves(chapter, formatTime, highest) {
    const cell = labelled(html('td', { className: 'chapter-leaves' }), HEADINGS.leaves);
    if (chapter.reached === null) {
      cell.textContent = '—';
      return cell;
    }
    const picture = svg('svg', { class: 'chapter-tenths', width: TENTH_BAR.width, height: TENTH_BAR.height, role: 'img',
      viewBox: `0 0 ${TENTH_BAR.width} ${TENTH_BAR.height}` });
    const step = TENTH_BAR.width / 10;
    chapter.leaves_by_tenth.forEach((share, i) => {
      const h = (share / highest) * (TENTH_BAR.height - 2);
      svg('rect', { x: i * step + 1, y: TENTH_BAR.height - 1 - h, width: step - 2, height: Math.max(h, 0.5), 'data-share': share }, picture);
    });
    const left = chapter.reached - chapter.finished;
    const median = chapter.leave_median_ms === null ? 'nobody left it before its end'
      : `median ${formatTime(chapter.start_ms + chapter.leave_median_ms)}`;
    svg('title', {}, picture).textContent = `${format.percent(left)} of views left it before its end; by tenth: `
      + chapter.leaves_by_tenth.map(format.percent).join(', ');
    cell.append(picture, html('span', { className: 'chapter-median', textContent: median }));
    return cell;
  }
}
