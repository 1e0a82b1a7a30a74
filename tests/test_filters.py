"""filters[]: the syntax, and filtered answers equal to those of an import holding only the matching views."""

from __future__ import annotations

import numpy as np
import pytest

from moments.filters import Filter, FilterError, parse_filters

from test_api import NOW_MS, post_views, view
from test_cli import WRITERS, failing, new_environment, ok, ok_json
from captures import captured_requests, expected_views, replay, stored_window

COUNTRIES = ["US", "CA", "DE", "BR", None]
DEVICES = ["tv", "phone", "desktop", None]
BROWSERS = ["Chrome", "Safari", "Firefox"]
TIERS = ["premium", "free", None]


# --- syntax ------------------------------------------------------------------------------------

def test_mux_syntax_and_aliases():
    assert parse_filters(["country:US", "!device_type:tv", "operating_system:Windows", "custom_12:a:b"]) == (
        Filter("country", "US"), Filter("custom_12", "a:b"), Filter("device_type", "tv", negated=True),
        Filter("os", "Windows"))
    assert parse_filters(["viewer_device_category:tv"]) == (Filter("device_type", "tv"),)
    # Order and repeats do not matter: equal filter sets are equal (one cache entry).
    assert parse_filters(["country:US", "browser:Chrome", "country:US"]) == parse_filters(["browser:Chrome", "country:US"])


@pytest.mark.parametrize("text, message", [
    ("country", "dimension:value"),
    ("country:", "dimension:value"),
    (":US", "dimension:value"),
    ("planet:Mars", "unknown dimension 'planet'"),
    ("custom_21:x", "unknown dimension"),
    ("+video_cdn_trace:fastly", "trace dimensions"),
    ("!-video_cdn_trace:fastly", "trace dimensions"),
    ("country:U\x00S", "printable"),
    ("country:" + "x" * 300, "at most 256"),
])
def test_malformed_filters_are_refused(text, message):
    with pytest.raises(FilterError, match=message):
        parse_filters([text])


# --- end to end ----------------------------------------------------------------------------------

def audience(n: int, seed: int) -> list[dict]:
    """Views of one asset whose watching depends on who watches, so filters change the curve."""
    rng = np.random.default_rng(seed)
    views = []
    for i in range(n):
        country, device = COUNTRIES[rng.integers(len(COUNTRIES))], DEVICES[rng.integers(len(DEVICES))]
        leave = int(rng.integers(5_000, 60_000)) if device != "tv" else 60_000
        ranges = [[0, leave]] + ([[20_000, 30_000]] if country == "US" else [])
        body = view(f"v{i}", ranges, start_ms=NOW_MS - int(rng.integers(60_000, 2 * 86_400_000)),
                    asset_id="film", browser=BROWSERS[i % 3])
        body.update({k: v for k, v in (("country", country), ("device_type", device),
                                       ("custom_2", TIERS[i % 3])) if v})
        views.append(body)
    return views


def matches(body: dict, filters: list[str]) -> bool:
    """The filter semantics written out plainly: values of one dimension ORed, dimensions ANDed."""
    wanted: dict[tuple[str, bool], set[str]] = {}
    aliases = {"operating_system": "os", "viewer_device_category": "device_type"}
    for text in filters:
        negated = text.startswith("!")
        name, _, value = text.lstrip("!").partition(":")
        wanted.setdefault((aliases.get(name, name), negated), set()).add(value)
    return all((body.get(name) in values) != negated for (name, negated), values in wanted.items())


FILTER_SETS = [
    ["country:US"],
    ["!device_type:tv"],
    ["country:US", "country:CA"],
    ["country:DE", "!device_type:tv", "browser:Safari"],
    ["custom_2:premium"],
    ["!custom_2:premium", "viewer_device_category:phone"],
    ["country:JP"],
]


@pytest.mark.parametrize("filters", FILTER_SETS, ids=lambda f: "&".join(f))
def test_filtered_answers_equal_an_import_of_only_the_matching_views(server, filters):
    everyone, matching = server.tenant("everyone"), server.tenant("matching")
    views = audience(400, seed=len(filters))
    subset = [v for v in views if matches(v, filters)]
    # Two epoch seconds, not "7:days": a relative window moves when a second passes between requests.
    window = {"timeframe[]": [str(NOW_MS // 1000 - 3 * 86_400), str(NOW_MS // 1000 + 60)]}
    with server.client(everyone) as a, server.client(matching) as b:
        post_views(a, views)
        if subset:
            post_views(b, subset)
        else:  # the id must exist for a 200; a view that is not counted makes it exist
            post_views(b, [view("x", [[0, 1000]], asset_id="film", end=False) | {"view_start": NOW_MS}])
        for what in ("heatmap", "hotspots"):
            filtered = a.get(f"/data/v1/engagement/assets/film/{what}", params={**window, "filters[]": filters})
            plain = b.get(f"/data/v1/engagement/assets/film/{what}", params=window)
            assert filtered.status_code == plain.status_code == 200, filtered.text
            assert filtered.json() == plain.json()
        unfiltered = a.get("/data/v1/engagement/assets/film/heatmap", params=window).json()
    assert unfiltered["data"]["total_views"] == 400
    assert filtered.json()["data"]["total_views"] == len(subset)


def test_bad_filters_are_mux_errors_and_cost_nothing(server):
    tenant = server.tenant()
    with server.client(tenant) as c:
        post_views(c, [view("a", [[0, 1000]], asset_id="film")])
        for params in ({"filters[]": "planet:Mars"}, {"filters[]": "country"}, {"filters": "country:US"},
                       {"filters[]": ["country:US"] * 21}):
            response = c.get("/data/v1/engagement/assets/film/heatmap", params=params)
            assert response.status_code == 400, params
            error = response.json()["error"]
            assert error["type"] == "invalid_parameters" and error["messages"], error


def test_beacon_dimensions_filter_views(server):
    """Custom dimensions and the browser a player's beacons carry are filterable."""
    tenant = server.tenant(env_key="testenv")
    requests = captured_requests("seek-rewatch-destroy")
    for request in requests:
        request["body"] = request["body"].replace('"memve":"5.19.0"', '"memve":"5.19.0","c1":"premium"')
    with server.client() as c:
        replay(c, requests)
    (view_id,) = expected_views("seek-rewatch-destroy")
    view = server.store.get_view(tenant.environment_id, view_id)
    assert view.dimensions["custom_1"] == "premium"
    window = stored_window([view])
    with server.client(tenant) as c:
        def views_for(filters: list[str]) -> int:
            response = c.get("/data/v1/engagement/videos/vid-1/heatmap", params={"timeframe[]": window, "filters[]": filters})
            return response.json()["data"]["total_views"]

        assert views_for([]) == 1
        assert views_for(["custom_1:premium"]) == 1 and views_for(["custom_1:free"]) == 0
        assert views_for(["browser:HeadlessChrome", "!custom_1:free"]) == 1 and views_for(["!browser:HeadlessChrome"]) == 0


@pytest.mark.parametrize("writer", ["ndjson", "json"])  # the Arrow bulk path and the row-wise one
def test_cli_filter_on_imported_files(tmp_path, writer):
    db = tmp_path / "moments.duckdb"
    filters = ["!country:US", "device_type:tv", "custom_2:premium", "custom_2:free"]
    views = audience(150, seed=3)
    subset = [v for v in views if matches(v, filters)]
    everyone, matching = new_environment(db, "everyone"), new_environment(db, "matching")
    ok("import", WRITERS[writer](tmp_path, views), "--env", everyone, "--db", db, cwd=tmp_path)
    ok("import", WRITERS[writer](tmp_path, subset), "--env", matching, "--db", db, cwd=tmp_path)
    query = ("heatmap", "--db", db, "--asset", "film", "--timeframe", "7:days")
    filtered = ok_json(*query, "--env", everyone, *[a for f in filters for a in ("--filter", f)], cwd=tmp_path)
    assert filtered["data"] == ok_json(*query, "--env", matching, cwd=tmp_path)["data"]
    assert 0 < filtered["data"]["total_views"] == len(subset) < len(views)
    bad = failing(*query, "--env", everyone, "--filter", "planet:Mars", cwd=tmp_path)
    assert "unknown dimension 'planet'" in bad.stderr
