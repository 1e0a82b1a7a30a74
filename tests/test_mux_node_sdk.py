"""The official Mux Node SDK (@mux/mux-node 15.3.0) against the live server.

tests/node/engagement_check.mjs calls all six `client.data.engagement.*` methods through
the SDK and prints what the SDK parsed; this test replays each call over plain httpx and
asserts both agree, that the three scopes select different views, that `limit` and
`order_direction` behave, and that errors surface as the SDK's own error classes.

Node and npm are required: a missing toolchain is a failure, not a skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import httpx

from moments.model import View
from moments.lab.simulate import Audience, Moment, Scenario, simulate_views

from npm import ensure_node_modules, require_tool

NODE_DIR = Path(__file__).parent / "node"
SCRIPT = NODE_DIR / "engagement_check.mjs"
SDK_VERSION = "15.3.0"

DURATION_MS = 120_000
ASSET_ID = "asset-main"
OTHER_ASSET_ID = "asset-other"
PLAYBACK_1 = "pbMainOne"
PLAYBACK_2 = "pbMainTwo"
OTHER_PLAYBACK = "pbOther"
# A '/' and a space: the SDK percent-encodes them in the path.
VIDEO_ID = "series 7/episode 3"
LIMIT = 1
DAY_MS = 86_400_000

# Planted moments: two peaks and a cold spot, so every scope has hotspots with distinct scores.
MOMENTS = (
    Moment(30_000, 40_000, "peak", 0.6),
    Moment(60_000, 70_000, "valley", 0.5),
    Moment(95_000, 105_000, "peak", 0.5),
)

# Four groups of views; each scope selects a different union of them.
#   g1: asset-main via pbMainOne, video VIDEO_ID
#   g2: asset-main via pbMainTwo, video VIDEO_ID
#   g3: asset-other via pbOther,  video VIDEO_ID    (same video, another asset)
#   g4: asset-main via pbMainOne, video "trailer"   (same asset, another video)
GROUPS = {
    "g1": dict(n=240, seed=11, asset_id=ASSET_ID, playback_id=PLAYBACK_1, video_id=VIDEO_ID),
    "g2": dict(n=160, seed=12, asset_id=ASSET_ID, playback_id=PLAYBACK_2, video_id=VIDEO_ID),
    "g3": dict(n=120, seed=13, asset_id=OTHER_ASSET_ID, playback_id=OTHER_PLAYBACK, video_id=VIDEO_ID),
    "g4": dict(n=80, seed=14, asset_id=ASSET_ID, playback_id=PLAYBACK_1, video_id="trailer"),
}
SCOPE_GROUPS = {
    "assets": ("g1", "g2", "g4"),
    "videos": ("g1", "g2", "g3"),
    f"playbackIds:{PLAYBACK_1}": ("g1", "g4"),
    f"playbackIds:{PLAYBACK_2}": ("g2",),
}
HTTP_PATHS = {"assets": "assets", "videos": "videos", "playbackIds": "playback-ids"}


# ---------------------------------------------------------------------------------------
# Fixture data


def _records(now_ms: int) -> tuple[list[dict], dict[str, list[int]]]:
    """Import records for all groups, and each group's view start times."""
    records, starts = [], {}
    for name, group in GROUPS.items():
        audience = Audience(DURATION_MS, group["n"], moments=MOMENTS, seed=group["seed"])
        # Views start between 4 and 1 days ago: inside '30:days' and the default 7 days.
        scenario = Scenario(view_id_prefix=name, asset_id=group["asset_id"], playback_ids=(group["playback_id"],),
                            video_id=group["video_id"], start_ms=now_ms - 4 * DAY_MS, span_ms=3 * DAY_MS)
        views = simulate_views(audience, scenario)
        records.extend(_record(v) for v in views)
        starts[name] = [v.view_start_ms for v in views]
    return records, starts


def _record(view: View) -> dict:
    assert view.view_end_ms is not None and view.ranges
    return {
        "view_id": view.view_id, "asset_id": view.asset_id, "playback_id": view.playback_id,
        "video_id": view.video_id, "view_start": view.view_start_ms, "view_end": view.view_end_ms,
        "duration_ms": view.duration_ms, "ranges": [list(r) for r in view.ranges],
    }


def _http_params(params: dict | None) -> list[tuple[str, str]]:
    """The query a plain HTTP client sends for the SDK's params (bracket format for arrays)."""
    out: list[tuple[str, str]] = []
    for key, value in (params or {}).items():
        if isinstance(value, list):
            out.extend((f"{key}[]", str(v)) for v in value)
        else:
            out.append((key, str(value)))
    return out


def _scores(body: dict) -> list[float]:
    return [h["score"] for h in body["data"]["hotspots"]]


# ---------------------------------------------------------------------------------------


def test_mux_node_sdk_against_live_server(server, tmp_path):
    node = require_tool("node", "the Mux Node SDK compatibility test needs Node.js >= 18 and npm")
    ensure_node_modules(NODE_DIR, {"@mux/mux-node": SDK_VERSION})

    tenant = server.tenant("sdk")
    other = server.tenant("other-env")
    now_ms = int(time.time() * 1000)
    records, starts = _records(now_ms)

    with server.client(tenant) as http:
        for asset_id, playback_ids in ((ASSET_ID, [PLAYBACK_1, PLAYBACK_2]), (OTHER_ASSET_ID, [OTHER_PLAYBACK])):
            response = http.put(f"/v1/assets/{asset_id}",
                                json={"duration_ms": DURATION_MS, "playback_ids": playback_ids})
            assert response.status_code == 200, response.text
            assert response.json()["data"]["playback_ids"] == playback_ids
        response = http.post("/v1/views", json=records)
        assert response.status_code == 200, response.text
        assert response.json()["data"] == {"accepted": len(records), "rejected_total": 0, "rejected": []}

        # An epoch window that keeps only the later part of the views.
        epoch_start_s, epoch_end_s = (now_ms - 2 * DAY_MS) // 1000, now_ms // 1000
        expected_totals = {scope: sum(GROUPS[g]["n"] for g in groups) for scope, groups in SCOPE_GROUPS.items()}
        expected_epoch_totals = {
            scope: sum(1 for g in groups for s in starts[g] if epoch_start_s * 1000 <= s < epoch_end_s * 1000)
            for scope, groups in SCOPE_GROUPS.items()
        }
        # The fixture really does select different views per scope, in both windows.
        assert len(set(expected_totals.values())) == 4, expected_totals
        assert len(set(expected_epoch_totals.values())) == 4, expected_epoch_totals
        assert all(0 < expected_epoch_totals[s] < expected_totals[s] for s in expected_totals)

        spec = {
            "asset_id": ASSET_ID, "video_id": VIDEO_ID, "playback_ids": [PLAYBACK_1, PLAYBACK_2],
            "missing_asset_id": "asset-does-not-exist", "missing_video_id": "no such/video",
            "missing_playback_id": "pbMissing",
            "epoch_timeframe": [epoch_start_s, epoch_end_s], "limit": LIMIT,
            "expected_total_views": expected_totals, "expected_buckets": DURATION_MS // 1000,
            "other_environment_token": {"token_id": other.token_id, "token_secret": other.token_secret},
        }
        spec_path = tmp_path / "spec.json"
        spec_path.write_text(json.dumps(spec))
        env = {key: value for key, value in os.environ.items() if not key.startswith("MUX_")}
        env.update(MUX_TOKEN_ID=tenant.token_id, MUX_TOKEN_SECRET=tenant.token_secret, MUX_BASE_URL=server.base_url,
                   MUX_LOG="off")
        run = subprocess.run([node, str(SCRIPT), str(spec_path)], cwd=NODE_DIR, env=env, capture_output=True,
                             text=True, timeout=180)
        assert run.returncode == 0, f"node exited {run.returncode}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}"
        out = json.loads(run.stdout)

        assert out["sdk_version"] == SDK_VERSION
        assert out["mismatches"] == [], out["mismatches"]
        calls = {c["key"]: c for c in out["calls"]}
        scopes = list(SCOPE_GROUPS)
        variants = ["heatmap.default", "heatmap.30d", "heatmap.epoch", "hotspots.default", "hotspots.30d",
                    "hotspots.30d.desc", "hotspots.30d.asc", "hotspots.30d.limit", "hotspots.30d.limit.asc",
                    "hotspots.epoch.desc"]
        assert sorted(calls) == sorted(f"{s}.{v}" for s in scopes for v in variants)
        # All six SDK methods were exercised.
        assert {(c["resource"], c["method"]) for c in out["calls"]} == {
            (r, m) for r in ("assets", "videos", "playbackIds") for m in ("heatmap", "hotspots")}

        # 1. What the SDK parsed equals what the server returns over plain HTTP for the same query.
        for key, call in calls.items():
            assert call["status"] == 200, call
            url = httpx.URL(call["url"])
            path = f"/data/v1/engagement/{HTTP_PATHS[call['resource']]}/{call['id']}/{call['method']}"
            assert url.path == path, (key, call["url"])  # httpx.URL.path is percent-decoded
            if call["params"] and "timeframe" in call["params"]:
                assert "timeframe%5B%5D=" in call["url"], call["url"]  # bracket array format
            response = http.get(path, params=_http_params(call["params"]))
            assert response.status_code == 200, (key, response.text)
            sdk_body, http_body = call["body"], response.json()
            timeframe_sdk, timeframe_http = sdk_body["timeframe"], http_body["timeframe"]
            if call["params"] and call["params"]["timeframe"] == [str(epoch_start_s), str(epoch_end_s)]:
                assert timeframe_sdk == timeframe_http == [epoch_start_s, epoch_end_s], key
            else:
                # Duration windows end at "now": the two requests may straddle a second boundary.
                span = 30 * 86_400 if call["params"] else 7 * 86_400
                assert timeframe_sdk[1] - timeframe_sdk[0] == span == timeframe_http[1] - timeframe_http[0], key
                assert 0 <= timeframe_http[1] - timeframe_sdk[1] <= 5, (key, timeframe_sdk, timeframe_http)
                assert abs(timeframe_sdk[1] - now_ms // 1000) <= 120, (key, timeframe_sdk)
            assert {**sdk_body, "timeframe": None} == {**http_body, "timeframe": None}, key
            # Types survive the SDK exactly as the contract fixes them.
            assert isinstance(sdk_body["total_row_count"], int) and isinstance(sdk_body["data"]["total_views"], int)
            assert all(isinstance(t, int) for t in timeframe_sdk)

        for scope in scopes:
            def body(variant: str) -> dict:
                return calls[f"{scope}.{variant}"]["body"]

            # 2. Each scope counts exactly its own views, in both timeframe forms.
            for variant in ("heatmap.default", "heatmap.30d", "hotspots.default", "hotspots.30d", "hotspots.30d.asc",
                            "hotspots.30d.limit"):
                assert body(variant)["data"]["total_views"] == expected_totals[scope], (scope, variant)
            for variant in ("heatmap.epoch", "hotspots.epoch.desc"):
                assert body(variant)["data"]["total_views"] == expected_epoch_totals[scope], (scope, variant)

            heatmap = body("heatmap.30d")
            assert heatmap["total_row_count"] == 1
            assert len(heatmap["data"]["value"]) == DURATION_MS // 1000
            assert all(0.0 <= v <= 1.0 for v in heatmap["data"]["value"])
            assert body("heatmap.default")["data"]["value"] == heatmap["data"]["value"]
            assert body("heatmap.epoch")["data"]["value"] != heatmap["data"]["value"]

            # 3. Hotspots: found, ordered, reversible, truncatable.
            full = body("hotspots.30d")
            spots = full["data"]["hotspots"]
            assert len(spots) >= 1, scope
            assert full["total_row_count"] == len(spots)
            assert body("hotspots.default")["data"]["hotspots"] == spots  # default timeframe covers all views
            assert body("hotspots.30d.desc")["data"]["hotspots"] == spots  # default order is desc
            scores = _scores(full)
            assert len(set(scores)) == len(scores), scores  # distinct, so the order is unambiguous
            assert scores == sorted(scores, reverse=True)
            assert all(0.0 <= s <= 1.0 for s in scores)
            assert all(0 <= h["start_ms"] < h["end_ms"] <= DURATION_MS for h in spots)
            ascending = body("hotspots.30d.asc")
            assert ascending["data"]["hotspots"] == spots[::-1]
            assert ascending["total_row_count"] == len(spots)
            limited = body("hotspots.30d.limit")
            assert limited["data"]["hotspots"] == spots[:LIMIT]
            assert limited["total_row_count"] == len(spots)  # counted before the limit
            limited_asc = body("hotspots.30d.limit.asc")
            assert limited_asc["data"]["hotspots"] == spots[::-1][:LIMIT]
            assert limited_asc["total_row_count"] == len(spots)
            epoch_spots = body("hotspots.epoch.desc")
            assert epoch_spots["timeframe"] == [epoch_start_s, epoch_end_s]
            assert _scores(epoch_spots) == sorted(_scores(epoch_spots), reverse=True)

        # `limit` really truncates somewhere and `asc` really reverses a multi-item list.
        assert any(len(calls[f"{s}.hotspots.30d"]["body"]["data"]["hotspots"]) > LIMIT for s in scopes)
        asset_spots = calls["assets.hotspots.30d"]["body"]["data"]["hotspots"]
        assert len(asset_spots) >= 2
        # The planted peaks lead and the planted cold spot comes first in asc.
        assert asset_spots[0]["score"] > 0.5 and asset_spots[-1]["score"] < 0.5
        coldest = calls["assets.hotspots.30d.asc"]["body"]["data"]["hotspots"][0]
        assert coldest["start_ms"] < 70_000 and coldest["end_ms"] > 60_000

        # Different scopes, different curves.
        curves = [tuple(calls[f"{s}.heatmap.30d"]["body"]["data"]["value"]) for s in scopes]
        assert len(set(curves)) == len(curves)

    # 4. Errors surface as the SDK's own classes.
    errors = out["errors"]
    expected_errors = {
        "wrong_secret": ("AuthenticationError", 401, "unauthorized", None),
        "missing_asset": ("NotFoundError", 404, "not_found", None),
        "missing_asset_hotspots": ("NotFoundError", 404, "not_found", None),
        "missing_video": ("NotFoundError", 404, "not_found", None),
        "missing_playback_id": ("NotFoundError", 404, "not_found", None),
        "other_environment_asset": ("NotFoundError", 404, "not_found", None),
        "bad_order_direction": ("BadRequestError", 400, None, "order_direction"),
        "bad_timeframe": ("BadRequestError", 400, None, "timeframe"),
        "bad_timeframe_three": ("BadRequestError", 400, None, "timeframe"),
        "bad_timeframe_reversed": ("BadRequestError", 400, None, "timeframe"),
        "bad_limit": ("BadRequestError", 400, None, "limit"),
    }
    assert sorted(errors) == sorted(expected_errors)
    for name, (cls, status, error_type, names) in expected_errors.items():
        seen = errors[name]
        assert seen["class"] == cls, (name, seen)
        assert cls in seen["instances"] and "APIError" in seen["instances"], (name, seen)
        assert seen["status"] == status, (name, seen)
        if error_type:
            assert seen["type"] == error_type, (name, seen)
        else:
            assert seen["type"] in ("bad_request", "invalid_parameters"), (name, seen)
        assert seen["messages"] and all(isinstance(m, str) and m for m in seen["messages"]), (name, seen)
        if names:
            assert any(names in m for m in seen["messages"]), (name, seen)
    # Another environment's asset is indistinguishable from a missing one.
    assert errors["other_environment_asset"]["messages"] == errors["missing_asset"]["messages"]
    assert {errors[n]["class"] for n in ("wrong_secret", "missing_asset", "bad_order_direction")} == {
        "AuthenticationError", "NotFoundError", "BadRequestError"}
