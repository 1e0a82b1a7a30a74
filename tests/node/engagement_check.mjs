// Drives a live moments server with the official Mux Node SDK (@mux/mux-node 15.3.0).
//
// Usage: MUX_TOKEN_ID=... MUX_TOKEN_SECRET=... MUX_BASE_URL=http://127.0.0.1:PORT \
//          node engagement_check.mjs SPEC.json
//
// SPEC.json describes the ids to query and the expected values:
//   {
//     "asset_id": "...", "video_id": "...", "playback_ids": ["p1", "p2"],
//     "missing_asset_id": "...", "missing_video_id": "...", "missing_playback_id": "...",
//     "epoch_timeframe": [start_s, end_s],          // epoch seconds, sent as strings
//     "limit": 1,
//     "expected_total_views": {"assets": N, "videos": N, "playbackIds:p1": N, ...},  // for '30:days'
//     "expected_buckets": 120                        // optional: len(value) of every heatmap
//   }
//
// Prints exactly one JSON object on stdout:
//   { "sdk_version", "base_url", "calls": [{key, resource, method, id, params, url, status, body}],
//     "errors": {name: {class, status, instances, type, messages, url}}, "mismatches": [...] }
// and exits 0 (the Python test asserts on the content). Exits 1 only if it could not run at all.

import { readFileSync } from 'node:fs';
import Mux from '@mux/mux-node';
import { VERSION } from '@mux/mux-node/version';

function die(message) {
  process.stderr.write(`engagement_check: ${message}\n`);
  process.exit(1);
}

const specPath = process.argv[2];
if (!specPath) die('usage: node engagement_check.mjs SPEC.json');
for (const name of ['MUX_TOKEN_ID', 'MUX_TOKEN_SECRET', 'MUX_BASE_URL']) {
  if (!process.env[name]) die(`${name} is not set`);
}
const baseURL = process.env.MUX_BASE_URL;
// Never talk to the real Mux API from a test.
if (!/^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?\/?$/.test(baseURL)) die(`refusing non-local MUX_BASE_URL ${baseURL}`);

const spec = JSON.parse(readFileSync(specPath, 'utf8'));
const [p1, p2] = spec.playback_ids;
const epoch = spec.epoch_timeframe.map(String); // the SDK types timeframe as Array<string>
const limit = spec.limit;

// Credentials come from MUX_TOKEN_ID / MUX_TOKEN_SECRET; baseURL is passed explicitly.
const client = new Mux({ baseURL, maxRetries: 0, timeout: 30_000 });
const engagement = client.data.engagement;

const scopes = [
  { resource: 'assets', id: spec.asset_id, label: 'assets' },
  { resource: 'videos', id: spec.video_id, label: 'videos' },
  { resource: 'playbackIds', id: p1, label: `playbackIds:${p1}` },
  { resource: 'playbackIds', id: p2, label: `playbackIds:${p2}` },
];

// [name, method, params]; params === undefined means the SDK's default (no query).
const variants = [
  ['heatmap.default', 'heatmap', undefined],
  ['heatmap.30d', 'heatmap', { timeframe: ['30:days'] }],
  ['heatmap.epoch', 'heatmap', { timeframe: epoch }],
  ['hotspots.default', 'hotspots', undefined],
  ['hotspots.30d', 'hotspots', { timeframe: ['30:days'] }],
  ['hotspots.30d.desc', 'hotspots', { timeframe: ['30:days'], order_direction: 'desc' }],
  ['hotspots.30d.asc', 'hotspots', { timeframe: ['30:days'], order_direction: 'asc' }],
  ['hotspots.30d.limit', 'hotspots', { timeframe: ['30:days'], limit }],
  ['hotspots.30d.limit.asc', 'hotspots', { timeframe: ['30:days'], limit, order_direction: 'asc' }],
  ['hotspots.epoch.desc', 'hotspots', { timeframe: epoch, order_direction: 'desc' }],
];

const calls = [];
const mismatches = [];

for (const scope of scopes) {
  for (const [name, method, params] of variants) {
    const key = `${scope.label}.${name}`;
    const resource = engagement[scope.resource];
    const promise = params === undefined ? resource[method](scope.id) : resource[method](scope.id, params);
    const call = { key, scope: scope.label, resource: scope.resource, method, id: scope.id, params: params ?? null };
    let data, response;
    try {
      ({ data, response } = await promise.withResponse());
    } catch (error) {
      mismatches.push(`${key}: ${error?.constructor?.name}: ${error?.message}`);
      calls.push({ ...call, error: String(error) });
      continue;
    }
    calls.push({ ...call, url: response.url, status: response.status, body: data });

    // Light self-checks against the spec; the Python test asserts everything again.
    if (name.includes('30d') || name.endsWith('default')) {
      const expected = spec.expected_total_views?.[scope.label];
      if (expected !== undefined && data?.data?.total_views !== expected) {
        mismatches.push(`${key}: total_views ${data?.data?.total_views} != expected ${expected}`);
      }
    }
    const buckets = data?.data?.value?.length;
    if (method === 'heatmap' && spec.expected_buckets !== undefined && buckets !== spec.expected_buckets) {
      mismatches.push(`${key}: ${buckets} buckets != expected ${spec.expected_buckets}`);
    }
    if (!Array.isArray(data?.timeframe) || data.timeframe.length !== 2 || !data.timeframe.every(Number.isInteger)) {
      mismatches.push(`${key}: timeframe is not two integers: ${JSON.stringify(data?.timeframe)}`);
    }
  }
}

// Error mapping: which SDK error class each failure surfaces as.
const errorClasses = [
  'BadRequestError',
  'AuthenticationError',
  'PermissionDeniedError',
  'NotFoundError',
  'UnprocessableEntityError',
  'RateLimitError',
  'InternalServerError',
  'APIConnectionError',
  'APIError',
];

async function capture(run) {
  try {
    const value = await run();
    return { class: null, unexpected_success: value };
  } catch (error) {
    return {
      class: error?.constructor?.name ?? null,
      instances: errorClasses.filter((name) => error instanceof Mux[name]),
      status: error?.status ?? null,
      type: error?.error?.error?.type ?? null,
      messages: error?.error?.error?.messages ?? null,
      message: error?.message ?? String(error),
    };
  }
}

const wrongSecret = new Mux({
  baseURL,
  tokenId: process.env.MUX_TOKEN_ID,
  tokenSecret: `${process.env.MUX_TOKEN_SECRET}-wrong`,
  maxRetries: 0,
});
const errorCases = {
  wrong_secret: () => wrongSecret.data.engagement.assets.heatmap(spec.asset_id, { timeframe: ['30:days'] }),
  missing_asset: () => engagement.assets.heatmap(spec.missing_asset_id, { timeframe: ['30:days'] }),
  missing_asset_hotspots: () => engagement.assets.hotspots(spec.missing_asset_id),
  missing_video: () => engagement.videos.heatmap(spec.missing_video_id),
  missing_playback_id: () => engagement.playbackIds.hotspots(spec.missing_playback_id),
  bad_order_direction: () => engagement.assets.hotspots(spec.asset_id, { order_direction: 'up' }),
  bad_timeframe: () => engagement.videos.heatmap(spec.video_id, { timeframe: ['banana'] }),
  bad_timeframe_three: () => engagement.playbackIds.heatmap(p1, { timeframe: [...epoch, epoch[1]] }),
  bad_timeframe_reversed: () => engagement.assets.heatmap(spec.asset_id, { timeframe: [epoch[1], epoch[0]] }),
  bad_limit: () => engagement.playbackIds.hotspots(p2, { limit: -1 }),
};
if (spec.other_environment_token) {
  const other = new Mux({
    baseURL,
    tokenId: spec.other_environment_token.token_id,
    tokenSecret: spec.other_environment_token.token_secret,
    maxRetries: 0,
  });
  errorCases.other_environment_asset = () => other.data.engagement.assets.heatmap(spec.asset_id);
}
const errors = {};
for (const [name, run] of Object.entries(errorCases)) {
  errors[name] = await capture(run);
}

process.stdout.write(JSON.stringify({ sdk_version: VERSION, base_url: baseURL, calls, errors, mismatches }) + '\n');
