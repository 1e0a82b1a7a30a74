// The moments API as the page uses it: every request carries the token in the Authorization
// header (HTTP Basic), and every failure becomes an ApiError or an Unreachable.

/** The API's root: the dashboard is served at <root>/dashboard/, so a reverse-proxy prefix still works. */
const ROOT = new URL('..', document.baseURI);
const RATE_LIMIT_RETRIES = 2;
const MAX_RETRY_WAIT_MS = 5000;

export class ApiError extends Error {
  constructor(status, type, messages) {
    super(messages.join(' ') || `HTTP ${status}`);
    this.status = status;
    this.type = type;
    this.messages = messages;
  }
}

/** The server did not answer at all (stopped, network down, blocked). */
export class Unreachable extends Error {}

function basic(credentials) {
  // btoa only takes Latin-1: encode as UTF-8 first, as the server decodes it.
  const bytes = new TextEncoder().encode(`${credentials.id}:${credentials.secret}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON (a proxy's error page): fall back to the status
  }
  if (body?.error) return new ApiError(response.status, body.error.type, body.error.messages || []);
  if (Array.isArray(body?.errors)) return new ApiError(response.status, 'rate_limited', body.errors);
  return new ApiError(response.status, 'error', [`The server answered HTTP ${response.status}.`]);
}

/** A download: its bytes and the name the server gave it (Content-Disposition). */
async function fileOf(response) {
  const name = /filename="([^"]+)"/.exec(response.headers.get('Content-Disposition') ?? '')?.[1] ?? 'moments-export';
  return { blob: await response.blob(), name };
}

// Paths that take filters[]: the six Mux endpoints and ours under /v1/engagement.
const FILTERED = /^(data\/)?v1\/engagement\//;

/** `filters()` gives the current filters[] (Mux syntax), sent with every engagement request. */
export function client(credentials, { filters = () => [] } = {}) {
  const authorization = basic(credentials);

  /** GET path (relative to the API root) with query params (arrays repeat the key); `read` takes
   * the 2xx response; `filtered`: send the current filters[] (every engagement path but the picker's). */
  async function get(path, params = {}, { read = (response) => response.json(), filtered = FILTERED.test(path) } = {}) {
    const url = new URL(path, ROOT);
    if (filtered) params = { ...params, 'filters[]': filters() };
    for (const [key, value] of Object.entries(params)) {
      for (const item of [].concat(value)) if (item !== undefined && item !== null) url.searchParams.append(key, item);
    }
    for (let attempt = 0; ; attempt++) {
      let response;
      try {
        response = await fetch(url, {
          headers: { Authorization: authorization, Accept: 'application/json' },
          credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer',
        });
      } catch {
        throw new Unreachable(`Cannot reach the moments server at ${ROOT.origin}.`);
      }
      if (response.ok) return read(response);
      if (response.status === 429 && attempt < RATE_LIMIT_RETRIES) {
        const wait = Number(response.headers.get('Retry-After')) * 1000 || 1000;
        await sleep(Math.min(wait, MAX_RETRY_WAIT_MS));
        continue;
      }
      throw await errorFrom(response);
    }
  }

  const segment = (id) => encodeURIComponent(id);
  return {
    list: (kind, search, limit) => get(`v1/${kind}`, { search: search || undefined, limit }),
    // Ours: the Mux heatmap's body with each value's 95% interval (the chart's band).
    heatmap: (kind, id, timeframe) => get(`v1/engagement/${kind}/${segment(id)}/heatmap`, { 'timeframe[]': timeframe, intervals: 'true' }),
    hotspots: (kind, id, timeframe) => get(`data/v1/engagement/${kind}/${segment(id)}/hotspots`, { 'timeframe[]': timeframe }),
    summary: (kind, id, timeframe, { perView = false } = {}) => get(`v1/engagement/${kind}/${segment(id)}/summary`,
      { 'timeframe[]': timeframe, per_view: perView ? 'true' : undefined }),
    chapters: (kind, id, timeframe) => get(`v1/engagement/${kind}/${segment(id)}/chapters`, { 'timeframe[]': timeframe }),
    asset: (id) => get(`v1/assets/${segment(id)}`),
    playbackId: (id) => get(`v1/playback-ids/${segment(id)}`),
    relative: (kind, id, timeframe) => get(`v1/engagement/${kind}/${segment(id)}/relative`, { 'timeframe[]': timeframe }),
    compare: (kind, id, timeframe, other) => get(`v1/engagement/${kind}/${segment(id)}/compare`,
      { 'timeframe[]': timeframe, 'against_timeframe[]': other.against_timeframe, against: other.against }),
    views: (kind, id, timeframe, cursor, limit) => get(`v1/engagement/${kind}/${segment(id)}/views`, { 'timeframe[]': timeframe, cursor, limit }),
    view: (id) => get(`v1/views/${segment(id)}`),
    layers: (kind, id, timeframe) => get(`v1/engagement/${kind}/${segment(id)}/layers`, { 'timeframe[]': timeframe }),
    // The picker offers every value the views have, not only those the current filters keep.
    dimensions: (kind, id, timeframe) => get(`v1/engagement/${kind}/${segment(id)}/dimensions`, { 'timeframe[]': timeframe }, { filtered: false }),
    exportFile: (kind, id, file, timeframe) => get(`v1/engagement/${kind}/${segment(id)}/export/${file}`, { 'timeframe[]': timeframe }, { read: fileOf }),
  };
}
