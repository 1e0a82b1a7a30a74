// The headline figures of one heatmap response. A later API (/summary) may serve them; until
// then they are computed here, from the numbers the chart draws, and nowhere else.
//
// value[i] is the share of views that watched bucket i (docs/engagement.md), on a uniform grid:
// so the mean of the values is exactly the mean share of the content each view watched, and the
// last value is the share of views that watched the last moment.

/** @returns {{views: number, averageWatched: number | null, completion: number | null}} */
export function headline(heatmap) {
  const { total_views: views, value } = heatmap.data;
  if (!views || !value.length) return { views, averageWatched: null, completion: null };
  return { views, averageWatched: value.reduce((sum, v) => sum + v, 0) / value.length, completion: value.at(-1) };
}

export const EXPLAINED = {
  views: 'Views that started in the timeframe and count for engagement (completed, with watched ranges).',
  averageWatched: 'The average share of the content one view watched: each moment counts once per view, '
    + 'however often it was rewatched. The mean of the curve.',
  completion: 'The share of views that watched the last moment of the content (the curve at its end).',
};
