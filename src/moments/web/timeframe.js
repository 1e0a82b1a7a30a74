// Timeframes as the Engagement API takes them: one duration ("7:days") or two epoch seconds.

export const PRESETS = [
  { value: '24:hours', label: '24 h', title: 'Last 24 hours' },
  { value: '7:days', label: '7 d', title: 'Last 7 days' },
  { value: '30:days', label: '30 d', title: 'Last 30 days' },
  { value: '100:days', label: '100 d', title: 'Last 100 days (the standard retention)' },
];
export const DEFAULT = '7:days';

/** The timeframe[] values for the API: ["7:days"] or ["START_S", "END_S"]. */
export function params(timeframe) {
  return timeframe.includes(',') ? timeframe.split(',') : [timeframe];
}

export function isPreset(timeframe) {
  return PRESETS.some((p) => p.value === timeframe);
}

/** A custom range from two datetime-local values, or an error message saying what to fix. */
export function customRange(fromValue, toValue) {
  if (!fromValue || !toValue) return { error: 'Pick both a start and an end for the custom range.' };
  const start = Math.floor(new Date(fromValue).getTime() / 1000);
  const end = Math.floor(new Date(toValue).getTime() / 1000);
  if (!Number.isFinite(start) || !Number.isFinite(end)) return { error: 'The custom range has an invalid date.' };
  if (start >= end) return { error: 'The custom range must start before it ends.' };
  return { value: `${start},${end}` };
}

/** Did the server clamp the window we asked for (e.g. to the retention)? Only knowable for custom ranges. */
export function wasClamped(timeframe, effective) {
  if (!timeframe.includes(',')) return false;
  const [start, end] = timeframe.split(',').map(Number);
  return effective[0] !== start || effective[1] !== end;
}
