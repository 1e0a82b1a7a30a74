// The headline row: the API's summary figures (GET .../summary, docs/engagement.md "Summary
// figures"), each with its definition on hover. The curve's figures only: they come from the
// same rollups as the heatmap, so the row costs what the chart costs.

import * as format from './format.js';

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

export const VIEWS_EXPLAINED = 'Views that started in the timeframe and count for engagement (completed, with watched ranges).';
