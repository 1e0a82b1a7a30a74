// The dashboard page: sign in, pick content and a timeframe, show its engagement.
// Everything shown comes from the API (api.js); the page keeps the selection in the URL's
// fragment (shareable, reload-proof) and the token in session storage only (session.js).

import { ApiError, Unreachable, client } from './api.js';
import { Chart, shareScale } from './chart.js';
import * as downloads from './downloads.js';
import * as format from './format.js';
import { KINDS, labelled } from './hotspots.js';
import { Player, muxStreamUrl } from './player.js';
import * as session from './session.js';
import * as timeframes from './timeframe.js';
import { ChaptersPanel, chaptersOf } from './chapters.js';
import { ComparePanel } from './compare.js';
import { ViewsPanel } from './views.js';
import { LayersPanel } from './layers.js';
import { FilterPicker } from './picker.js';
import * as summary from './summary.js';

// Below this many counted views the detector returns no hotspots by rule (docs/hotspots.md §5).
export const MIN_HOTSPOT_VIEWS = 30;
const LIST_LIMIT = 100;
const SEARCH_DELAY_MS = 200;
const WIDEST_PRESET = '100:days';
const CONTENT_KINDS = {
  assets: { name: 'Asset', plural: 'assets', file: 'asset' },
  videos: { name: 'Video ID', plural: 'video IDs', file: 'video' },
  'playback-ids': { name: 'Playback ID', plural: 'playback IDs', file: 'playback-id' },
};

const $ = (id) => document.getElementById(id);

/** Put `text` in `element`, with `backticked` parts as <code> (commands to copy). Never HTML. */
function say(element, text) {
  element.replaceChildren(...text.split('`').map((part, i) => (
    i % 2 ? Object.assign(document.createElement('code'), { textContent: part }) : document.createTextNode(part))));
}

const state = {
  api: null,
  tokenId: null,
  kind: 'assets',
  id: null,
  timeframe: timeframes.DEFAULT,
  filters: [], // filters[] of every engagement request (Mux syntax)
  search: '',
  items: [],
  heatmap: null,
  hotspots: null,
  labelled: { peaks: [], colds: [] },
  chapters: [], // the shown content's (loadChapters), once they arrive
  playerFor: null, // "kind/id" whose media the player holds
  loadSeq: 0, // only the latest request's answer is drawn
  listSeq: 0,
  retry: null, // what "Try again" repeats
};

const chart = new Chart($('chart'), {
  onSeek: (ms) => seek(ms),
  announce: (text) => { $('chart-announce').textContent = text; },
});
const player = new Player($('player'), (message) => showPlayerNote(message, true));
const comparePanel = new ComparePanel($('compare-panel'), { fail: (error, retry) => fail(error, retry) });
const viewsPanel = new ViewsPanel($('views-panel'), { fail: (error, retry) => fail(error, retry) });
const layersPanel = new LayersPanel($('layers-panel'), { fail: (error, retry) => fail(error, retry) });
const chaptersPanel = new ChaptersPanel($('chapters-panel'), { onSeek: (ms) => seek(ms) });
const picker = new FilterPicker($('filter-picker'), { add: (filter) => addFilter(filter) });

// --- errors: what happened, and what to do about it ------------------------------------

function explain(error) {
  if (error instanceof Unreachable) {
    return `${error.message} Check that \`moments serve\` is running and reachable from this browser, then try again.`;
  }
  if (!(error instanceof ApiError)) return `Something went wrong in the page: ${error.message}`;
  // The server's own words, as one sentence or more ending in a full stop.
  const said = error.messages.join(' ').replace(/([^.!?])$/, '$1.');
  switch (error.status) {
    case 401:
      return `The server did not accept this token (401): ${said} Check the token ID and secret, `
        + 'or create a token with `moments token create --env ENV_ID --permissions read`.';
    case 403:
      return `This token lacks the read permission (403), so it cannot show engagement. Sign in with a token `
        + 'that has read permission: `moments token create --env ENV_ID --permissions read`.';
    case 404:
      return `Not found in this token's environment (404): ${said} Pick another id from the list.`;
    case 429:
      return `The server is rate limiting this environment (429). Wait a moment and try again.`;
    default:
      return error.status >= 500
        ? `The server failed (HTTP ${error.status}): ${said} Try again; if it persists, check the server's log.`
        : `The server rejected the request (HTTP ${error.status}): ${said}`;
  }
}

const isAuthError = (error) => error instanceof ApiError && (error.status === 401 || error.status === 403);

/** Could the same request succeed a moment later? Not a 4xx but 429: the server said what to change. */
const isPassing = (error) => !(error instanceof ApiError) || error.status === 429 || error.status >= 500;

/** A failure after sign-in: a rejected token goes back to the sign-in form, anything else is a
 * banner, with "Try again" only where repeating the request may help. */
function fail(error, retry) {
  if (isAuthError(error)) {
    signOut(explain(error));
    return;
  }
  state.retry = isPassing(error) ? retry : null;
  say($('banner-text'), explain(error));
  $('banner-retry').hidden = !state.retry;
  $('banner').hidden = false;
}

function clearBanner() {
  $('banner').hidden = true;
  state.retry = null;
}

// --- signing in and out ----------------------------------------------------------------

function showSignIn(message = '') {
  $('app').hidden = true;
  $('account').hidden = true;
  $('sign-in').hidden = false;
  say($('sign-in-error'), message);
  $('sign-in-error').hidden = !message;
  $(message || !$('token-id').value ? 'token-id' : 'token-secret').focus();
}

async function signIn(event) {
  event.preventDefault();
  const credentials = { id: $('token-id').value.trim(), secret: $('token-secret').value.trim() };
  if (!credentials.id || !credentials.secret) {
    showSignIn('Enter both the token ID and the token secret.');
    return;
  }
  $('sign-in-button').disabled = true;
  $('sign-in-button').textContent = 'Signing in…';
  try {
    await start(credentials, { fromForm: true });
  } finally {
    $('sign-in-button').disabled = false;
    $('sign-in-button').textContent = 'Sign in';
  }
}

/** Check the token with a first list request, then open the dashboard on it. */
async function start(credentials, { fromForm = false } = {}) {
  const api = client(credentials, { filters: () => state.filters });
  let first;
  try {
    first = await api.list(state.kind, state.search, LIST_LIMIT);
  } catch (error) {
    if (isAuthError(error) || fromForm) {
      if (isAuthError(error)) session.clear();
      showSignIn(explain(error));
    } else {
      openApp(api, credentials.id);
      fail(error, () => start(credentials));
    }
    return;
  }
  session.save(credentials);
  $('token-secret').value = '';
  openApp(api, credentials.id);
  showList(first);
  if (!state.id && state.items.length) select(state.items[0].id);
  else if (state.id) loadContent();
}

function openApp(api, tokenId) {
  state.api = api;
  state.tokenId = tokenId;
  clearBanner();
  $('sign-in').hidden = true;
  $('app').hidden = false;
  $('account').hidden = false;
  $('account-token').textContent = tokenId;
  $('account-token').title = tokenId;
}

function signOut(message = '') {
  session.clear();
  state.api = null;
  state.loadSeq++;
  state.listSeq++;
  player.unload();
  state.playerFor = null;
  clearPanels();
  showSignIn(message);
}

/** Nothing of the previous content stays on screen or keeps loading. */
function clearPanels() {
  chart.clear();
  chaptersPanel.clear();
  state.chapters = [];
  comparePanel.clear();
  viewsPanel.clear();
  layersPanel.clear();
  picker.clear();
}

// --- the list of ids -------------------------------------------------------------------

async function refreshList() {
  const seq = ++state.listSeq;
  $('id-list').setAttribute('aria-busy', 'true');
  try {
    const body = await state.api.list(state.kind, state.search, LIST_LIMIT);
    if (seq === state.listSeq) showList(body);
    return true;
  } catch (error) {
    if (seq === state.listSeq) {
      state.items = [];
      $('id-list').replaceChildren();
      $('list-status').textContent = `Could not load the ${CONTENT_KINDS[state.kind].plural}.`;
      fail(error, refreshList);
    }
    return false;
  } finally {
    if (seq === state.listSeq) $('id-list').removeAttribute('aria-busy');
  }
}

function showList(body) {
  state.items = body.data;
  const kind = CONTENT_KINDS[state.kind];
  const list = $('id-list');
  list.replaceChildren(...body.data.map((item) => {
    const li = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'id-item';
    button.dataset.id = item.id;
    const name = Object.assign(document.createElement('span'), { className: 'id-name', textContent: item.id });
    const views = Object.assign(document.createElement('span'), { className: 'id-views', textContent: format.plural(item.views, 'view') });
    button.append(name, views);
    button.addEventListener('click', () => select(item.id));
    li.append(button);
    return li;
  }));
  markSelected();
  let status;
  if (!body.total_row_count) {
    status = state.search ? `No ${kind.plural} match “${state.search}”.` : `No ${kind.plural} yet.`;
  } else if (body.total_row_count > body.data.length) {
    status = `The ${body.data.length} most viewed of ${format.count(body.total_row_count)} ${kind.plural}; search to narrow down.`;
  } else {
    status = format.plural(body.total_row_count, kind.name.charAt(0).toLowerCase() + kind.name.slice(1), kind.plural);
  }
  $('list-status').textContent = status;
  if (!body.total_row_count && !state.search && !state.id) showNothingYet();
}

function markSelected() {
  for (const button of $('id-list').querySelectorAll('.id-item')) {
    const selected = button.dataset.id === state.id;
    button.classList.toggle('selected', selected);
    if (selected) button.setAttribute('aria-current', 'true');
    else button.removeAttribute('aria-current');
  }
}

function showPlaceholder() {
  player.unload();
  state.playerFor = null;
  $('content').hidden = true;
  $('placeholder').hidden = false;
  $('placeholder-title').textContent = 'Pick something to look at';
  $('placeholder-text').textContent = `Choose one of the ${CONTENT_KINDS[state.kind].plural} on the left.`;
}

function showNothingYet() {
  $('content').hidden = true;
  $('placeholder').hidden = false;
  $('placeholder-title').textContent = `No ${CONTENT_KINDS[state.kind].plural} with views yet`;
  say($('placeholder-text'), state.kind === 'assets'
    ? 'Send views with `POST /v1/views` or `moments import FILE`, register assets with `PUT /v1/assets/ID`, '
      + 'or point mux-embed or Mux Player at this server (docs/collector.md). Views appear once they complete.'
    : `Views name their ${CONTENT_KINDS[state.kind].plural} when they are imported or beaconed; none has one yet. Try another kind above.`);
}

// --- the selection ---------------------------------------------------------------------

function select(id) {
  state.id = id;
  markSelected();
  writeHash();
  loadContent();
}

function writeHash() {
  const params = new URLSearchParams({ kind: state.kind, timeframe: state.timeframe });
  if (state.id) params.set('id', state.id);
  for (const filter of state.filters) params.append('filter', filter);
  history.replaceState(null, '', `#${params}`);
}

function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  // Own keys only: `in` also finds what every object inherits ("constructor", "toString").
  if (Object.hasOwn(CONTENT_KINDS, params.get('kind'))) state.kind = params.get('kind');
  const timeframe = params.get('timeframe');
  if (timeframe && (timeframes.isPreset(timeframe) || /^\d+,\d+$/.test(timeframe))) state.timeframe = timeframe;
  state.id = params.get('id') || null;
  state.filters = params.getAll('filter');
  $('filters').value = state.filters.map(quoted).join(' ');
  $(`kind-${state.kind}`).checked = true;
  syncTimeframeControls();
}

// --- timeframe controls ----------------------------------------------------------------

/** The radio's id of a timeframe choice: "7:days" -> "tf-7-days" (a colon would need escaping in selectors). */
const presetId = (value) => `tf-${value.replace(':', '-')}`;

function buildPresets() {
  const fieldset = $('presets');
  const options = [...timeframes.PRESETS, { value: 'custom', label: 'Custom…', title: 'A range of dates and times' }];
  for (const option of options) {
    const input = Object.assign(document.createElement('input'), { type: 'radio', name: 'timeframe', id: presetId(option.value), value: option.value });
    const label = Object.assign(document.createElement('label'), { htmlFor: input.id, textContent: option.label, title: option.title });
    input.addEventListener('change', () => onTimeframeChoice(option.value));
    fieldset.append(input, label);
  }
}

function syncTimeframeControls(timeframe = state.timeframe) {
  state.timeframe = timeframe;
  const custom = !timeframes.isPreset(state.timeframe);
  $(presetId(custom ? 'custom' : state.timeframe)).checked = true;
  $('custom-range').hidden = !custom;
  if (custom) {
    const [start, end] = state.timeframe.split(',').map(Number);
    $('custom-from').value = format.localInputValue(start);
    $('custom-to').value = format.localInputValue(end);
  }
}

function onTimeframeChoice(value) {
  if (value === 'custom') {
    // Start from the window on screen, so the custom range is a small edit away.
    const [start, end] = state.heatmap?.timeframe ?? [Math.floor(Date.now() / 1000) - 7 * 86400, Math.floor(Date.now() / 1000)];
    $('custom-from').value = format.localInputValue(start);
    $('custom-to').value = format.localInputValue(end);
    $('custom-range').hidden = false;
    $('custom-from').focus();
    return;
  }
  $('custom-range').hidden = true;
  setTimeframe(value);
}

function applyCustomRange(event) {
  event.preventDefault();
  const range = timeframes.customRange($('custom-from').value, $('custom-to').value);
  $('custom-error').hidden = !range.error;
  $('custom-error').textContent = range.error ?? '';
  if (range.value) setTimeframe(range.value);
}

function setTimeframe(value) {
  state.timeframe = value;
  writeHash();
  if (state.id) loadContent();
}

// --- filters -------------------------------------------------------------------------

/** "country:US player_name:\"My player\"" -> ['country:US', 'player_name:My player']. */
function parseFilters(text) {
  return (text.match(/(?:[^\s"]+|"[^"]*")+/g) ?? []).map((word) => word.replaceAll('"', ''));
}

const quoted = (filter) => (/\s/.test(filter) ? filter.replace(/:(.*)$/, ':"$1"') : filter);

function applyFilters(event) {
  event.preventDefault();
  state.filters = parseFilters($('filters').value);
  writeHash();
  if (state.id) loadContent();
}

/** A filter from the picker joins the others (once) and applies at once. */
function addFilter(filter) {
  const filters = parseFilters($('filters').value);
  if (!filters.includes(filter)) filters.push(filter);
  $('filters').value = filters.map(quoted).join(' ');
  $('filters-form').requestSubmit();
}

// --- one piece of content --------------------------------------------------------------

async function loadContent() {
  const seq = ++state.loadSeq;
  const { kind, id, timeframe } = state;
  const range = timeframes.params(timeframe);
  $('content').setAttribute('aria-busy', 'true');
  try {
    const registered = await isRegistered(kind, id);
    const [heatmap, hotspots, figures, media] = await Promise.all([
      state.api.heatmap(kind, id, range),
      state.api.hotspots(kind, id, range),
      state.api.summary(kind, id, range),
      mediaOf(kind, id, registered),
    ]);
    if (seq !== state.loadSeq) return;
    clearBanner();
    showContent(heatmap, hotspots, figures, media);
    loadPerView(seq, kind, id, range);
    loadChapters(seq, kind, id, range, heatmap.data);
    comparePanel.show({ api: state.api, kind, id, timeframe: range, registered });
    viewsPanel.show({ api: state.api, kind, id, timeframe: range });
    layersPanel.show({ api: state.api, kind, id, timeframe: range });
    picker.show({ api: state.api, kind, id, timeframe: range });
  } catch (error) {
    if (seq !== state.loadSeq) return;
    if (error instanceof ApiError && error.status === 404) {
      // e.g. a stale link: the id is not (or no longer) in this environment
      state.id = null;
      markSelected();
      writeHash();
    }
    showFailed(error);
    fail(error, loadContent);
  } finally {
    if (seq === state.loadSeq) $('content').removeAttribute('aria-busy');
  }
}

/** The chapters read every counted view: they come after the curve, then band the chart and
 * name each hotspot's chapter. */
async function loadChapters(seq, kind, id, range, heatmap) {
  chaptersPanel.loading();
  try {
    const report = await state.api.chapters(kind, id, range);
    if (seq !== state.loadSeq) return;
    const formatTime = format.timeFormatter(heatmap.duration_ms ?? 0);
    state.chapters = report.data.chapters;
    chaptersPanel.show(report, formatTime);
    if (heatmap.total_views > 0 && heatmap.value.length > 0) chart.setChapters(state.chapters);
    document.querySelectorAll('.hotspot-list li').forEach(labelChapter);
  } catch (error) {
    if (seq === state.loadSeq) chaptersPanel.failed(error);
  }
}

/** A failed load leaves no chart of another request on screen (its figures would pass for the answer). */
function showFailed(error) {
  state.heatmap = null;
  state.hotspots = null;
  clearPanels();
  $('content').hidden = true;
  $('placeholder').hidden = false;
  $('placeholder-title').textContent = 'Nothing to show';
  $('placeholder-text').textContent = error instanceof ApiError && error.status === 400
    ? 'The server refused this request (see the message above). Change the filters or the timeframe.'
    : 'The request failed (see the message above).';
}

/** Is this asset (or this playback ID's asset) registered? The list says so; an id beyond the
 * list's first page is looked up by name. Only registered ones are asked for, so no 404. */
async function isRegistered(kind, id) {
  if (kind === 'videos') return false;
  const listed = state.items.find((item) => item.id === id)
    ?? (await state.api.list(kind, id, LIST_LIMIT)).data.find((item) => item.id === id);
  return Boolean(listed?.registered);
}

/** What the player can play for this content: {url, playbackIds}. Unregistered = nothing. */
async function mediaOf(kind, id, registered) {
  if (kind === 'playback-ids') {
    const found = registered ? await state.api.playbackId(id) : null;
    return { url: found?.data.asset?.playback_url ?? null, playbackIds: [id] };
  }
  if (kind === 'assets' && registered) {
    const asset = await state.api.asset(id);
    return { url: asset.data.playback_url, playbackIds: asset.data.playback_ids };
  }
  return { url: null, playbackIds: [] };
}

function showContent(heatmap, hotspots, figures, media) {
  state.heatmap = heatmap;
  state.hotspots = hotspots;
  state.chapters = []; // until this content's arrive
  const { total_views: views, value, duration_ms: durationMs } = heatmap.data;
  const formatTime = format.timeFormatter(durationMs ?? 0);
  state.labelled = labelled(hotspots.data.hotspots);
  const { peaks, colds } = state.labelled;

  $('placeholder').hidden = true;
  $('content').hidden = false;
  $('content-kind').textContent = CONTENT_KINDS[state.kind].name;
  $('content-title').textContent = state.id;
  showHeadline(figures.data);
  $('stat-duration').textContent = durationMs ? formatTime(durationMs) : '—';
  $('stat-hotspots').textContent = views ? `${format.plural(peaks.length, 'peak')} · ${format.plural(colds.length, 'cold spot')}` : '—';
  const [start, end] = heatmap.timeframe;
  const clamped = timeframes.wasClamped(state.timeframe, heatmap.timeframe) ? ' (clamped to the retention period)' : '';
  $('stat-timeframe').textContent = `${format.dateRange(heatmap.timeframe)}${clamped}`;
  $('stat-zone').textContent = `(${format.timeZone} time)`;
  Object.assign($('stat-timeframe').dataset, { start, end });

  const hasViews = views > 0 && value.length > 0;
  $('no-views').hidden = hasViews;
  $('chart-figure').hidden = !hasViews;
  $('hotspots-title').parentElement.hidden = !hasViews;
  for (const id of ['download-heatmap-csv', 'download-heatmap-json', 'download-hotspots-csv']) $(id).disabled = !hasViews;
  if (hasViews) {
    const all = [...peaks, ...colds];
    $('heat-scale-top').textContent = `${Math.round(shareScale(value).top * 100)}%`;
    chart.render({
      values: value, low: heatmap.data.value_low, high: heatmap.data.value_high, durationMs, hotspots: all, formatTime,
      title: `Engagement of ${state.id}: ${format.percent(value[0])} of viewers at the start, `
        + `${format.percent(value.at(-1))} at the end; ${peaks.length} peaks, ${colds.length} cold spots.`,
    });
    showHotspots(views, formatTime);
  } else {
    chart.clear();
    $('widest-timeframe').hidden = state.timeframe === WIDEST_PRESET;
    $('no-views-text').textContent = `No completed view of this ${CONTENT_KINDS[state.kind].name.toLowerCase()} started in this timeframe. `
      + 'Try a longer timeframe (100 d covers the standard retention). A view counts once its player ended it '
      + 'or it went idle for an hour; views from player SDKs too old to report playback ranges never count.';
  }
  showMedia(media);
}

function showHeadline(figures) {
  $('stat-views').textContent = `${format.count(figures.total_views)}${state.filters.length ? ' matching the filters' : ''}`;
  $('headline-views').title = summary.VIEWS_EXPLAINED;
  summary.fill(summary.FIGURES, figures, $);
  summary.fill(summary.PER_VIEW, figures, $, true);
}

/** The per-view figures read every counted view: they come after the curve. */
async function loadPerView(seq, kind, id, range) {
  try {
    const figures = await state.api.summary(kind, id, range, { perView: true });
    if (seq === state.loadSeq) summary.fill(summary.PER_VIEW, figures.data, $);
  } catch (error) {
    if (seq !== state.loadSeq) return;
    for (const [cell] of summary.PER_VIEW) $(cell).querySelector('dd').textContent = '—';
    $('headline-seeks').title = `Could not be loaded: ${error.message}`;
  }
}

function showHotspots(views, formatTime) {
  const { peaks, colds } = state.labelled;
  const empty = $('hotspots-empty');
  empty.hidden = peaks.length + colds.length > 0;
  $('hotspots-key').hidden = !empty.hidden;
  if (views < MIN_HOTSPOT_VIEWS) {
    empty.textContent = `Too few views for hotspots: ${format.plural(views, 'view')} counted, and hotspots need at `
      + `least ${MIN_HOTSPOT_VIEWS}. Try a longer timeframe, or come back when more views have completed.`;
  } else {
    empty.textContent = `No hotspots: across ${format.plural(views, 'view')}, no moment holds or loses viewers clearly `
      + 'more than the expected decline. Subtle moments need more views: try a longer timeframe.';
  }
  const groups = [['peak', peaks], ['cold', colds]].filter(([, list]) => list.length).map(([kind, list]) => {
    const section = document.createElement('div');
    section.className = `hotspot-group ${kind}`;
    const heading = Object.assign(document.createElement('h4'), { textContent: `${KINDS[kind].marker} ${KINDS[kind].plural}` });
    heading.id = `hotspots-${kind}`;
    const ol = document.createElement('ol');
    ol.className = 'hotspot-list';
    ol.setAttribute('aria-labelledby', heading.id);
    ol.append(...list.map((h) => hotspotItem(h, formatTime)));
    section.append(heading, ol);
    return section;
  });
  $('hotspot-groups').replaceChildren(...groups);
}

function hotspotItem(h, formatTime) {
  const li = document.createElement('li');
  Object.assign(li.dataset, { startMs: h.start_ms, endMs: h.end_ms, score: h.score, kind: h.kind });
  const button = document.createElement('button');
  button.type = 'button';
  button.className = `hotspot ${h.kind}`;
  const range = `${formatTime(h.start_ms)}–${formatTime(h.end_ms)}`;
  const parts = [
    ['hs-label', `${KINDS[h.kind].marker} ${h.label}`],
    ['hs-range', range],
    ['hs-length', format.length(h.end_ms - h.start_ms)],
    ['hs-score', `score ${h.score.toFixed(2)}`],
  ];
  button.title = `Score ${h.score.toFixed(2)}: 0.5 is as expected; ${h.kind === 'peak' ? 'above, this moment holds viewers better' : 'below, viewers skip or leave here more'} than the expected decline.`;
  button.append(...parts.map(([className, textContent]) => Object.assign(document.createElement('span'), { className, textContent })));
  button.setAttribute('aria-label', `${KINDS[h.kind].name} ${h.label}, ${range}, score ${h.score.toFixed(2)} (0.5 is as expected). Play from ${formatTime(h.start_ms)}.`);
  button.addEventListener('click', () => seek(h.start_ms));
  li.append(button);
  labelChapter(li);
  return li;
}

/** Name the chapters a listed hotspot lies in (once they are known), in place: the list is not
 * drawn again under the pointer. */
function labelChapter(li) {
  const chapter = chaptersOf(state.chapters, Number(li.dataset.startMs), Number(li.dataset.endMs)).join(' → ');
  if (!chapter || li.querySelector('.hs-chapter')) return;
  const button = li.querySelector('button');
  const id = `hs-chapter-${li.dataset.kind}-${li.dataset.startMs}`;
  button.append(Object.assign(document.createElement('span'), { className: 'hs-chapter', id, textContent: `in ${chapter}` }));
  button.setAttribute('aria-describedby', id);
}

// --- the player ------------------------------------------------------------------------

function showMedia(media) {
  const key = `${state.kind}/${state.id}`;
  if (state.playerFor === key) return; // same content, new timeframe: keep the player as it is
  state.playerFor = key;
  player.unload();
  $('player').hidden = true;
  $('mux-stream').hidden = true;
  if (media.url) {
    $('player').hidden = false;
    player.load(media.url);
    showPlayerNote(`Playing ${new URL(media.url).host}${new URL(media.url).pathname}. Click the chart or a hotspot to jump there.`);
    return;
  }
  if (state.kind === 'videos') {
    showPlayerNote('A video ID can span several assets, so there is no one video to play. Pick one of its assets '
      + 'or playback IDs to watch along; the chart works without a player.');
    return;
  }
  showPlayerNote('No playable URL is registered for this content, so there is nothing to watch here; the chart and '
    + 'hotspots work without it. Register one with `PUT /v1/assets/ASSET_ID` and a `playback_url`.');
  const [playbackId] = media.playbackIds;
  if (playbackId) {
    $('mux-stream').hidden = false;
    $('mux-stream').textContent = `Play Mux stream of ${playbackId}`;
    $('mux-stream').title = `Loads ${muxStreamUrl(playbackId)} (only for Mux playback IDs; leaves this server).`;
    $('mux-stream').onclick = () => {
      $('mux-stream').hidden = true;
      $('player').hidden = false;
      player.load(muxStreamUrl(playbackId));
      showPlayerNote(`Streaming from stream.mux.com (public playback ID ${playbackId}).`);
    };
  }
}

function showPlayerNote(message, isError = false) {
  say($('player-note'), message);
  $('player-note').classList.toggle('error-text', isError);
}

function seek(ms) {
  if (player.loaded) player.seek(ms);
  const { value, duration_ms: durationMs } = state.heatmap?.data ?? {};
  if (value?.length) chart.setPlayhead(ms);
  if (!player.loaded && durationMs) {
    showPlayerNote(`No player for this content: ${format.timeFormatter(durationMs)(ms)} is marked on the chart.`);
  }
}

// --- downloads -------------------------------------------------------------------------

/** moments_asset_demo-trailer_1763000000-1763600000_heatmap.csv: what, which, when. */
function fileName(what) {
  const [start, end] = state.heatmap.timeframe;
  return `moments_${CONTENT_KINDS[state.kind].file}_${format.slug(state.id)}_${start}-${end}_${what}`;
}

function wireDownloads() {
  $('download-heatmap-csv').addEventListener('click', () => downloads.save(fileName('heatmap.csv'), downloads.heatmapCsv(state.heatmap), 'text/csv'));
  $('download-heatmap-json').addEventListener('click', () => downloads.save(fileName('heatmap.json'), downloads.json(state.heatmap), 'application/json'));
  $('download-hotspots-csv').addEventListener('click', () => downloads.save(fileName('hotspots.csv'), downloads.hotspotsCsv(state.hotspots), 'text/csv'));
}

// --- wiring ----------------------------------------------------------------------------

function wire() {
  buildPresets();
  wireDownloads();
  $('sign-in-form').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', () => {
    // Leaving on purpose also forgets the selection; a rejected token keeps it for the next sign-in.
    Object.assign(state, { id: null, heatmap: null, hotspots: null, items: [] });
    $('content').hidden = true;
    history.replaceState(null, '', location.pathname);
    signOut();
  });
  $('banner-retry').addEventListener('click', () => {
    const retry = state.retry;
    clearBanner();
    retry?.();
  });
  $('custom-range').addEventListener('submit', applyCustomRange);
  $('filters-form').addEventListener('submit', applyFilters);
  $('widest-timeframe').addEventListener('click', () => {
    syncTimeframeControls(WIDEST_PRESET);
    setTimeframe(WIDEST_PRESET);
  });
  for (const input of document.querySelectorAll('input[name="kind"]')) {
    input.addEventListener('change', async () => {
      state.kind = input.value;
      state.id = null;
      writeHash();
      showPlaceholder();
      if (await refreshList() && state.items.length) select(state.items[0].id);
    });
  }
  let timer = null;
  $('search').addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      state.search = $('search').value.trim();
      refreshList();
    }, SEARCH_DELAY_MS);
  });
  $('player').addEventListener('timeupdate', () => chart.setPlayhead($('player').currentTime * 1000));
  window.addEventListener('hashchange', async () => {
    // Back/forward or an edited link: follow it (replaceState, used for our own changes, fires nothing).
    if (!state.api) return;
    const kind = state.kind;
    readHash();
    if (kind !== state.kind) await refreshList();
    markSelected();
    if (state.id) loadContent();
  });
}

function boot() {
  wire();
  readHash();
  const saved = session.load();
  if (saved) start(saved);
  else showSignIn();
}

boot();
