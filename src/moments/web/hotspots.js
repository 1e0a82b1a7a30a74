// Peaks and cold spots from the API's hotspot list. The score is 0.5 for "as expected",
// above for moments that hold viewers, below for the ones they skip or leave.

export const KINDS = {
  peak: { name: 'Peak', plural: 'Peaks', marker: '▲', prefix: 'P' },
  cold: { name: 'Cold spot', plural: 'Cold spots', marker: '▼', prefix: 'C' },
};

export function kindOf(hotspot) {
  return hotspot.score >= 0.5 ? 'peak' : 'cold';
}

/** Each hotspot with its kind and a short label (P1 = strongest peak, C1 = deepest cold spot). */
export function labelled(hotspots) {
  const peaks = hotspots.filter((h) => kindOf(h) === 'peak').sort((a, b) => b.score - a.score);
  const colds = hotspots.filter((h) => kindOf(h) === 'cold').sort((a, b) => a.score - b.score);
  const label = (list, kind) => list.map((h, i) => ({ ...h, kind, label: `${KINDS[kind].prefix}${i + 1}` }));
  return { peaks: label(peaks, 'peak'), colds: label(colds, 'cold') };
}
