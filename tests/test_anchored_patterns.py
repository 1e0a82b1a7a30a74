"""Input patterns match the whole text: a regex "$" also matches before a trailing newline,
so "custom_1\n" once passed for "custom_1"."""

from __future__ import annotations

import json

import pytest

from moments.filters import FilterError, parse_filters
from moments.ingestion.folds import ViewFold
from moments.ingestion.imports import _from_columns
from moments.ingestion.views import parse_ranges, playback_id_from_url
from moments.model import BeaconEvent

from test_api import view


def test_a_custom_dimension_with_a_trailing_newline_is_no_dimension():
    assert parse_filters(["custom_1:x"])[0].dimension == "custom_1"
    with pytest.raises(FilterError, match="unknown dimension"):
        parse_filters(["custom_1\n:x"])


def test_a_filter_on_custom_1_newline_is_a_400_that_changes_nothing(server):
    tenant = server.tenant()
    with server.client(tenant) as c:
        assert c.post("/v1/views", json=[view("a", [[0, 1000]], asset_id="film")]).status_code == 200
        # The data, not the default window, which moves with the clock between two requests.
        before = c.get("/data/v1/engagement/assets/film/heatmap").json()["data"]
        response = c.get("/data/v1/engagement/assets/film/heatmap", params={"filters[]": "custom_1\n:x"})
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["type"] == "invalid_parameters" and "unknown dimension" in error["messages"][0]
        assert c.get("/data/v1/engagement/assets/film/heatmap").json()["data"] == before


@pytest.mark.parametrize("content_type", ["application/json", "application/x-ndjson"])
def test_an_import_with_custom_1_newline_is_refused(server, content_type):
    tenant = server.tenant()
    record = view("v1", [[0, 1000]], asset_id="film") | {"custom_1\n": "premium"}
    body = json.dumps([record]) if content_type == "application/json" else json.dumps(record) + "\n"
    with server.client(tenant) as c:
        response = c.post("/v1/views", content=body, headers={"Content-Type": content_type})
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        assert data["accepted"] == 0 and "unknown field(s): custom_1\n" in data["rejected"][0]["messages"][0]
    assert server.store.get_view(tenant.environment_id, "v1") is None


def test_beacon_fields_ranges_and_urls_with_a_trailing_newline_are_not_taken():
    fold = ViewFold()
    fold.add(BeaconEvent("v", 1, "viewstart", {"custom_1": "kept", "custom_2\n": "dropped"}))
    assert "custom_1" in fold.fields and "custom_2\n" not in fold.fields
    assert parse_ranges(json.dumps(["0:1000", "2000:3000\n"])) == ((0, 1000),)
    assert playback_id_from_url("https://stream.mux.com/abc123.m3u8") == "abc123"
    assert playback_id_from_url("https://stream.mux.com/abc123\n") is None


def test_a_csv_number_with_a_trailing_newline_is_not_read_as_a_number():
    assert _from_columns({"duration_ms": "60000"})["duration_ms"] == 60000
    assert _from_columns({"duration_ms": "60000\n"})["duration_ms"] == "60000\n"  # validation refuses it
