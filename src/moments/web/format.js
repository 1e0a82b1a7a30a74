// How numbers, times and dates read on the page.

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const dateTime = new Intl.DateTimeFormat('en-GB', {
  day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit',
});

const pad = (n) => String(n).padStart(2, '0');

/** Media time as mm:ss (h:mm:ss from an hour on); tenths only when the moment is not on a whole second. */
export function mediaTime(ms, { longForm = false } = {}) {
  const tenths = Math.round(ms / 100);
  const whole = Math.floor(tenths / 10);
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = whole % 60;
  const fraction = tenths % 10 ? `.${tenths % 10}` : '';
  return (h || longForm ? `${h}:${pad(m)}` : pad(m)) + `:${pad(s)}${fraction}`;
}

/** The same as mediaTime, but h:mm:ss for every time of a content that lasts an hour or more. */
export function timeFormatter(durationMs) {
  const longForm = durationMs >= 3_600_000;
  return (ms) => mediaTime(ms, { longForm });
}

/** A stretch of media: "12 s", "12.4 s", "2 min 3 s". */
export function length(ms) {
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms % 1000 ? 1 : 0)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
}

export function count(n) {
  return integer.format(n);
}

export function percent(share) {
  return `${(share * 100).toFixed(1)}%`;
}

export function plural(n, one, many = `${one}s`) {
  return `${count(n)} ${n === 1 ? one : many}`;
}

/** Epoch seconds as a date and time in the browser's time zone: "27 Nov 2026, 14:03". Every
 * date the page writes goes through here (or dateRange), so none reads as epoch seconds or ms. */
export function date(epochS) {
  return dateTime.format(new Date(epochS * 1000));
}

/** Two epoch seconds as "27 Nov 2026, 14:03 → 4 Dec 2026, 14:03". */
export function dateRange([startS, endS]) {
  return `${date(startS)} → ${date(endS)}`;
}

/** The browser's time zone, named once beside the dates ("Europe/Paris"). */
export const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

/** A value for <input type="datetime-local"> (local time, minutes). */
export function localInputValue(epochS) {
  const d = new Date(epochS * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A file-name-safe slug of an id (ids may hold '/', spaces and anything printable). */
export function slug(text) {
  return text.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80) || 'id';
}
