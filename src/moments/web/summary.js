// The headline row: the API's summary figures (GET .../summary, docs/engagement.md "Summary
// figures"), each with its definition on hover and its 95% interval under it. The curve's
// figures come with the chart (the same rollups); the per-view ones (PER_VIEW) read every
// counted view, so they are asked for after it.

import * as format from './format.js';

const seeks = (rate) => rate.toFixed(2);

/** [id of the figure's cell, the summary field, how it is shown, what it means] */
export const FIGURES = [
  ['headline-average', 'average_viewed', format.percent,
    'The average share of the content one view watched: each moment counts once per view, however often it was '
    + 'rewatched. The mean of the curve.'],
  ['headline-average-view', 'average_view_ms', format.length,
    'The average time one view spent on moments it had not watched yet (rewatches not counted twice).'],
  ['headline-completion', 'completion_rate', format.percent,
    'The share of views that watched the last moment of the content (the curve at its end).'],
  ['headline-intro', 'retention_at_10_percent', format.percent,
    'The share of views still watching a tenth of the way in (the curve there).'],
  ['headline-intro-30', 'retention_at_30_s', format.percent,
    'The share of views still watching at 0:30 (the curve there); none for content of 30 s or less.'],
];

/** The figures of /summary?per_view=true, in the same form. */
export const PER_VIEW = [
  ['headline-median-view', 'median_view_ms', format.length,
    'Half the views watched less unique time than this, half more.'],
  ['headline-rewatch', 'rewatch_rate', format.percent,
    'Plays beyond the first, per unique moment watched: 25% means a quarter more playing than watching anew. '
    + 'Read it as an anecdote below 100 views.'],
  ['headline-seeks', 'seek_rate', seeks,
    'Jumps per view, forward or back (as each view\'s path counts them).'],
];

/** Fill each cell of `figures` from a /summary body's data; `pending`: they are on their way. */
export function fill(cells, data, $, pending = false) {
  for (const [cell, field, shown, explained] of cells) {
    const value = pending ? null : data[field];
    const interval = pending ? null : data.intervals[field];
    $(cell).querySelector('dd').textContent = pending ? '…' : value === null ? '—' : shown(value);
    let line = $(cell).querySelector('.stat-interval');
    if (!line) {
      line = Object.assign(document.createElement('dd'), { className: 'stat-interval' });
      $(cell).append(line);
    }
    line.textContent = interval ? `95%: ${shown(interval[0])}–${shown(interval[1])}` : '';
    $(cell).title = explained;
  }
}

export const VIEWS_EXPLAINED = 'Views that started in the timeframe and count for engagement (completed, with watched ranges).';
