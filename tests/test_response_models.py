"""Responses are described once (moments/api/responses.py, each route's response_model) and
nothing drifts from that description: every JSON answer of a live server, on the demo data and
a beacon capture, matches the schema /openapi.json declares for it (every field named there,
no other), every operation with a JSON answer is asked here, and the Python client's types hold
exactly the fields the schemas declare (tests/test_fuzz_openapi.py checks its 2xx answers too).
"""

from __future__ import annotations

import dataclasses
from typing import Iterator
from urllib.parse import quote

import httpx
import pytest
import schemathesis

from moments import accounts, client
from moments.lab.demo import load_demo
from moments.store.duckdb import DuckDBStore

from captures import FORWARDED_HEADERS, captured_requests
from conftest import Server, make_tenant, start_app


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[Server, tuple[str, str], dict]]:
    folder = tmp_path_factory.mktemp("responses")
    store = DuckDBStore(str(folder / "demo.duckdb"))
    environment, _ = load_demo(store)
    admin = accounts.issue_token(store, environment.environment_id, ("read", "write", "admin"))
    make_tenant(store, "beacons", env_key="testenv")
    server = start_app(store, backup_dir=str(folder / "backups"), finalize_interval_s=10**9)
    document = httpx.get(f"{server.base_url}/openapi.json").json()
    yield server, (admin.token.token_id, admin.secret), document
    server.stop()
    store.close()


def json_operations(document: dict) -> set[str]:
    """METHOD /path of every operation whose success answer is declared as JSON."""
    return {f"{method.upper()} {path}" for path, item in document["paths"].items() for method, operation in item.items()
            if any(code.startswith("2") and "application/json" in answer.get("content", {})
                   and answer["content"]["application/json"].get("schema")
                   for code, answer in operation["responses"].items())}


def test_every_json_answer_is_what_the_document_declares(site):
    server, auth, document = site
    operations = {f"{op.method.upper()} {op.path}": op
                  for op in (result.ok() for result in schemathesis.openapi.from_dict(document).get_all_operations())}
    asked: set[str] = set()

    with httpx.Client(base_url=server.base_url, auth=auth, timeout=60) as http:
        def check(method: str, template: str, path: str, expected: int = 200, **request) -> dict:
            response = http.request(method, path, **request)
            assert response.status_code == expected, (method, path, response.text[:300])
            operations[f"{method} {template}"].validate_response(response)  # raises, naming each mismatch
            asked.add(f"{method} {template}")
            return response.json()

        ids = {kind: check("GET", f"/v1/{kind}", f"/v1/{kind}")["data"] for kind in ("assets", "videos", "playback-ids")}
        asset = next(item["id"] for item in ids["assets"] if item["registered"])
        for kind, scope_id in (("assets", asset), ("videos", ids["videos"][0]["id"]),
                               ("playback-ids", ids["playback-ids"][0]["id"])):
            for what in ("heatmap", "hotspots"):
                template = f"/data/v1/engagement/{kind}/{{scope_id}}/{what}"
                check("GET", template, template.replace("{scope_id}", quote(scope_id, safe="")))
            for what, query in (("layers", {}), ("relative", {}), ("dimensions", {}), ("views", {"limit": "5"}),
                                ("summary", {"per_view": "true"}), ("heatmap", {"intervals": "true"}), ("chapters", {}),
                                ("compare", {"timeframe[]": "7:days", "against_timeframe[]": "14:days"})):
                template = f"/v1/engagement/{kind}/{{scope_id}}/{what}"
                body = check("GET", template, template.replace("{scope_id}", quote(scope_id, safe="")), params=query)
                if what == "views":
                    view_id = body["data"][0]["view_id"]
            check("GET", "/v1/views/{view_id}", f"/v1/views/{quote(view_id, safe='')}")
        relative = check("GET", "/v1/engagement/assets/{scope_id}/relative", f"/v1/engagement/assets/{asset}/relative")
        assert relative["data"]["overall"] is not None  # the nested shapes were there to check

        check("GET", "/v1/assets/{asset_id}", f"/v1/assets/{asset}")
        check("PUT", "/v1/assets/{asset_id}", "/v1/assets/new-one",
              json={"duration_ms": 60_000, "playback_ids": ["new-pb"], "playback_url": None,
                    "chapters": [{"startTime": 0, "value": "One"}, {"startTime": 30.5, "endTime": 50, "value": "Two"}]})
        check("GET", "/v1/playback-ids/{playback_id}", "/v1/playback-ids/new-pb")
        check("POST", "/v1/views", "/v1/views", content=b'{"view_id": "v", "view_start": 1, "ranges": []}\n{}',
              headers={"content-type": "application/x-ndjson"})  # rejected records have their shape too
        check("GET", "/v1/environment", "/v1/environment")
        check("PATCH", "/v1/environment", "/v1/environment", json={"allowed_origins": ["https://example.com"]})
        check("GET", "/v1/tokens", "/v1/tokens")
        issued = check("POST", "/v1/tokens", "/v1/tokens", 201, json={"permissions": ["read"]})["data"]
        check("POST", "/v1/tokens/{token_id}/rotate", f"/v1/tokens/{issued['token_id']}/rotate")
        check("DELETE", "/v1/tokens/{token_id}", f"/v1/tokens/{issued['token_id']}")
        check("POST", "/v1/backup", "/v1/backup", 201)
        check("GET", "/healthz", "/healthz")
        beacon = captured_requests("seek-rewatch-destroy")[0]
        check("POST", "/", "/", content=beacon["body"].encode(),
              headers={k: v for k, v in beacon["headers"] if k.lower() in FORWARDED_HEADERS})

    assert asked == json_operations(document)  # a new JSON route gets asked here too


def properties(document: dict, name: str) -> set[str]:
    return set(document["components"]["schemas"][name]["properties"])


def ref_name(schema: dict) -> str:
    return schema["$ref"].rsplit("/", 1)[-1]


def flattened(document: dict, name: str) -> set[str]:
    """A body's fields as the client's types hold them: its `data` object's beside its own."""
    schema = document["components"]["schemas"][name]
    return (set(schema["properties"]) - {"data"}) | properties(document, ref_name(schema["properties"]["data"]))


# The client's types and the schemas they are read from ("flat": the body with its data's fields).
CLIENT_TYPES = [
    (client.Heatmap, "HeatmapIntervalsResponse", "flat"),  # the Mux heatmap's fields and ours (client.Hotspots, "HotspotsResponse", "flat"),
    (client.Hotspot, "HotspotItem", ""), (client.Layers, "LayersResponse", "flat"),
    (client.Relative, "RelativeResponse", "flat"), (client.RelativeOverall, "RelativeOverall", ""),
    (client.Comparison, "ComparisonResponse", "flat"), (client.ComparisonSide, "ComparisonSide", ""),
    (client.Summary, "SummaryResponse", "flat"), (client.Chapters, "ChaptersResponse", "flat"),
    (client.ChapterFigures, "ChapterFiguresShape", ""),
    (client.ImportResult, "ImportResult", ""), (client.Rejected, "Rejected", ""), (client.Asset, "Asset", ""),
    (client.EnvironmentInfo, "Environment", ""), (client.BackupInfo, "Backup", ""),
    (client.TokenInfo, "TokenInfo", ""), (client.IssuedToken, "IssuedToken", ""),
    (client.IdCount, "RegisteredIdCount", ""), (client.IdList, "IdList", ""),
    (client.ViewPage, "ViewPage", ""), (client.ViewSummary, "ViewSummary", ""), (client.ViewEnding, "ViewEnding", ""),
    (client.ViewDetail, "ViewDetail", ""),
]


@pytest.mark.parametrize("kind, name, how", CLIENT_TYPES, ids=[t[0].__name__ for t in CLIENT_TYPES])
def test_the_clients_types_hold_the_documented_fields(site, kind, name, how):
    document = site[2]
    declared = flattened(document, name) if how == "flat" else properties(document, name)
    assert {field.name for field in dataclasses.fields(kind)} == declared


def test_the_clients_path_step_holds_both_kinds_of_step(site):
    document = site[2]
    steps = document["components"]["schemas"]["ViewDetail"]["properties"]["path"]["items"]["anyOf"]
    declared = set().union(*(properties(document, ref_name(step)) for step in steps))
    assert {field.name for field in dataclasses.fields(client.PathStep)} == declared
