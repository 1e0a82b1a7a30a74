// Files made in the browser from the API's responses: nothing is fetched again.

import { kindOf } from './hotspots.js';

/** Bucket i of B over D ms spans [floor(i*D/B), floor((i+1)*D/B)) ms (docs/engagement.md). */
export function bucketStart(i, durationMs, buckets) {
  return Math.floor((i * durationMs) / buckets);
}

export function heatmapCsv(heatmap) {
  const { value, duration_ms: duration } = heatmap.data;
  const rows = value.map((v, i) => [i, bucketStart(i, duration, value.length), bucketStart(i + 1, duration, value.length), v]);
  return toCsv(['bucket', 'start_ms', 'end_ms', 'value'], rows);
}

export function hotspotsCsv(hotspots) {
  const rows = hotspots.data.hotspots.map((h) => [h.start_ms, h.end_ms, h.score, kindOf(h)]);
  return toCsv(['start_ms', 'end_ms', 'score', 'kind'], rows);
}

export function json(body) {
  return `${JSON.stringify(body, null, 2)}\n`;
}

function toCsv(header, rows) {
  // Numbers and fixed words only, so no field needs quoting.
  return [header, ...rows].map((row) => row.join(',')).join('\r\n') + '\r\n';
}

/** Hand `text` to the browser as a download named `name`. */
export function save(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
