"""Property tests (hypothesis) of the two input formats over HTTP: the import format
(POST /v1/views, JSON and NDJSON) and the mux-embed beacon format (POST /).

Bodies are valid, mutated field by field (wrong types, NaN/inf, huge and negative numbers,
negative and reversed ranges, unicode and lone-surrogate ids, ids past the length limit),
truncated, deeply nested, oversized, or random bytes. Whatever arrives: no 5xx, the
server keeps answering, a rejected request (4xx) or a rejected view changes nothing in
the store, and what is accepted is exactly what the validators accept, stored as they
read it. Examples per test: MOMENTS_FUZZ_EXAMPLES (docs/reliability.md has the full run).
"""

from __future__ import annotations

import functools
import json
import time
from collections import defaultdict

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moments.ingestion import imports
from moments.ingestion.beacons import (MAX_ENV_KEYS_PER_BODY, MAX_EVENTS_PER_BODY, MAX_VIEWS_PER_BODY, InvalidBeacon,
                                      decode_body)
from moments.ingestion.imports import InvalidView, validate_view
from moments.ingestion.folds import fold_events
from moments.ingestion.views import event_key, view_from_fold
from moments.model import BeaconEvent
from moments.store.duckdb import DuckDBStore

import reliability
from conftest import make_tenant, start_app
from reliability import fingerprint, write_marker

EXAMPLES = reliability.fuzz_examples(100)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])
MAX_IMPORT_BYTES = 512 * 1024  # small, so oversized bodies are cheap to make
NOW_MS = int(time.time() * 1000)


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    store = DuckDBStore(str(tmp_path_factory.mktemp("fuzz") / "fuzz.duckdb"))
    tenant = make_tenant(store, env_key="fuzzenv", rate_limit_per_s=1e9, rate_limit_burst=10**9)
    # No housekeeping rounds: each commits (moving the store's version) whatever it finds.
    # One client sends every fuzzed beacon body: its address's byte budget is not under test here.
    server = start_app(store, max_import_bytes=MAX_IMPORT_BYTES, finalize_interval_s=10**9,
                       beacon_address_bytes_per_s=1e12, beacon_address_burst_bytes=2**40)
    client = httpx.Client(base_url=server.base_url, auth=tenant.auth, timeout=60)
    yield server, tenant, client
    client.close()
    server.stop()
    store.close()


# --- values ---------------------------------------------------------------------------

# Any code point, lone surrogates included (JSON can carry them as \ud800 escapes).
ANY_CHAR = st.one_of(st.characters(codec=None), st.characters(categories=["Cs"]))
TEXT = st.text(ANY_CHAR, max_size=40)
NUMBERS = st.one_of(st.integers(), st.integers(-2**80, 2**80), st.floats(allow_nan=False, allow_infinity=False),
                    st.sampled_from([0, -1, 2**31, 2**63 - 1, 2**63, 2**64, -2**63, 10**30, 1e308, -0.0]))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                           max_leaves=12)
IDS = st.one_of(st.text(st.characters(codec="ascii", min_codepoint=33), min_size=1, max_size=12),
                st.text(ANY_CHAR, min_size=0, max_size=140))
EPOCH_MS = st.integers(NOW_MS - 90 * 86_400_000, NOW_MS)
ISO = st.builds(lambda moment, zone: moment.isoformat() + zone, st.datetimes(), st.sampled_from(["", "Z", "+05:30"]))
PAIRS = st.tuples(st.integers(0, 3_600_000), st.integers(1, 600_000)).map(lambda p: [p[0], p[0] + p[1]])
WILD_PAIRS = st.lists(st.one_of(st.integers(-2**64, 2**64), st.integers(-10, 10), st.floats(), st.none(), TEXT),
                      max_size=3)


def maybe(valid, wild=JSON_VALUES):
    """Mostly the valid value, sometimes anything at all."""
    return st.one_of(valid, valid, valid, wild)


@st.composite
def views(draw) -> dict:
    start = draw(maybe(EPOCH_MS, st.one_of(ISO, JSON_VALUES, NUMBERS)))
    view = {
        "view_id": draw(maybe(st.text(st.characters(codec="ascii", min_codepoint=33), min_size=1, max_size=8), IDS)),
        "view_start": start,
        "duration_ms": draw(maybe(st.integers(1, 7_200_000), NUMBERS)),
        "ranges": draw(maybe(st.lists(PAIRS, max_size=12),
                             st.lists(st.one_of(PAIRS, WILD_PAIRS, PAIRS.map(lambda p: p[::-1])), max_size=12))),
    }
    for name in ("asset_id", "playback_id", "video_id"):
        if draw(st.booleans()):
            view[name] = draw(maybe(st.sampled_from(["a1", "a2", "vid 1/2", "pb1"]), IDS))
    if draw(st.booleans()):
        view["view_end"] = draw(maybe(st.integers(0, 7_200_000).map(lambda d: start + d if isinstance(start, int)
                                                                    else d), JSON_VALUES))
    for name in ("sdk_name", "sdk_version", "country", "device_type"):
        if draw(st.integers(0, 4)) == 0:
            view[name] = draw(maybe(st.sampled_from(["mux-embed", "5.19.0", "US", "tv", "5.14.0"]), JSON_VALUES))
    for _ in range(draw(st.integers(0, 1))):  # an unknown field now and then
        view[draw(TEXT)] = draw(JSON_VALUES)
    for name in draw(st.lists(st.sampled_from(list(view)), max_size=1)):  # a required field missing
        del view[name]
    return view


@st.composite
def mangled(draw, body: bytes) -> bytes:
    """The body as sent, or broken on the way: truncated, spliced with junk, NaN/inf tokens."""
    how = draw(st.sampled_from(["as is"] * 6 + ["truncated", "junk", "nan", "bytes"]))
    if how == "truncated" and body:
        return body[:draw(st.integers(0, len(body) - 1))]
    if how == "junk":
        at = draw(st.integers(0, len(body)))
        return body[:at] + draw(st.binary(min_size=1, max_size=8)) + body[at:]
    if how == "nan":
        return body.replace(b"1", draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e400"])), 1)
    if how == "bytes":
        return draw(st.binary(max_size=200))
    return body


def deep(depth: int, opener: bytes = b"[") -> bytes:
    closer = {b"[": b"]", b"{": b"}"}[opener]
    inner = b'{"a":' if opener == b"{" else opener
    return inner * depth + b"1" + (closer if opener == b"[" else b"}") * depth


# --- the import format ---------------------------------------------------------------------

def expected_import(records: list) -> tuple[int, list[int], dict]:
    """(accepted, rejected indexes, the view each accepted id must be stored as), by the validator."""
    accepted, rejected, stored = 0, [], {}
    for index, record in enumerate(records):
        try:
            view = validate_view(record)
        except InvalidView:
            rejected.append(index)
            continue
        accepted += 1
        stored[view.view_id] = view  # the last version of an id in one request wins
    return accepted, rejected, stored


def check_stored(store, environment_id: str, stored: dict) -> None:
    for view_id, view in stored.items():
        got = store.get_view(environment_id, view_id)
        assert got is not None, view_id
        assert (got.ranges, got.view_start_ms, got.view_end_ms, got.duration_ms, got.asset_id, got.playback_id,
                got.video_id) == (view.ranges, view.view_start_ms, view.view_end_ms, view.duration_ms,
                                  view.asset_id, view.playback_id, view.video_id)


def post(client: httpx.Client, path: str, body: bytes, content_type: str) -> httpx.Response:
    response = client.post(path, content=body, headers={"content-type": content_type})
    reliability.count("fuzz: requests (format properties)")
    assert response.status_code < 500, (response.status_code, response.text, body[:300])
    return response


def check_rejected_changes_nothing(response: httpx.Response, before, server) -> None:
    if response.status_code >= 400:
        assert write_marker(server) == before, "a rejected request changed the store"
        reliability.count("fuzz: rejected requests that changed nothing")


@FUZZ
@given(records=st.lists(views(), max_size=8), ndjson=st.booleans(), single=st.booleans(), data=st.data())
def test_import_bodies(target, records, ndjson, single, data):
    server, tenant, client = target
    store = server.store
    if ndjson:
        body = "\n".join(json.dumps(r) for r in records).encode()
        content_type = "application/x-ndjson"
    else:
        body = json.dumps(records[0] if single and records else records).encode()
        content_type = "application/json"
    sent = data.draw(mangled(body))
    named = {r["view_id"] for r in records if isinstance(r.get("view_id"), str) and r["view_id"].isprintable()}
    earlier = {view_id: store.get_view(tenant.environment_id, view_id) for view_id in named}
    before = write_marker(server)
    response = post(client, "/v1/views", sent, content_type)
    assert response.status_code in (200, 400, 413), response.text
    check_rejected_changes_nothing(response, before, server)
    if response.status_code != 200:
        return
    result = response.json()["data"]
    if sent == body and records:  # intact: the server must agree with the validator, view by view
        accepted, rejected, stored = expected_import([records[0]] if single and not ndjson else records)
        assert (result["accepted"], result["rejected_total"], [r["index"] for r in result["rejected"]]) == \
            (accepted, len(rejected), rejected[:imports.MAX_ECHOED_REJECTIONS])
        check_stored(store, tenant.environment_id, stored)
        for view_id in named - set(stored):  # rejected views left what was stored before as it was
            assert store.get_view(tenant.environment_id, view_id) == earlier[view_id]
    if result["accepted"] == 0:
        assert write_marker(server) == before, "an import with no accepted view changed the store"


@FUZZ
@given(kind=st.sampled_from(["deep-json", "deep-ndjson", "deep-object", "oversized", "empty", "bom"]),
       depth=st.integers(1, 200_000), ndjson=st.booleans())
def test_import_bodies_at_the_limits(target, kind, depth, ndjson):
    server, _, client = target
    content_type = "application/x-ndjson" if ndjson or kind == "deep-ndjson" else "application/json"
    body = {
        "deep-json": deep(depth),
        "deep-ndjson": b'{"view_id": ' + deep(depth) + b"}\n" + b'{"view_id": "x"}',
        "deep-object": deep(depth, b"{"),
        "oversized": b"[" + b" " * (MAX_IMPORT_BYTES + depth) + b"]",
        "empty": b" \n" * (depth % 50),
        "bom": b"\xef\xbb\xbf" + b'[{"view_id": "bom"}]',
    }[kind]
    before = write_marker(server)
    response = post(client, "/v1/views", body, content_type)
    assert response.status_code == (413 if kind == "oversized" else response.status_code) < 500
    if kind == "oversized":
        assert response.json()["error"]["type"] == "payload_too_large"
    check_rejected_changes_nothing(response, before, server)
    if response.status_code == 200:
        assert response.json()["data"]["accepted"] == 0
        assert write_marker(server) == before


@pytest.mark.parametrize("ndjson", [False, True])
def test_a_million_ranges_are_refused_in_bounded_time(start_server, ndjson):
    """10^6 ranges in one view: under the default 64 MiB body limit, read and refused whole."""
    server = start_server()
    tenant = server.tenant()
    view = {"view_id": "huge", "asset_id": "a", "view_start": NOW_MS - 60_000, "duration_ms": 60_000,
            "ranges": [[i % 59_000, i % 59_000 + 1000] for i in range(10**6)]}
    body = json.dumps(view if ndjson else [view]).encode()
    started = time.time()
    with server.client(tenant) as client:
        before = fingerprint(server.store)
        response = post(client, "/v1/views", body, "application/x-ndjson" if ndjson else "application/json")
    assert response.status_code == 200 and time.time() - started < 30
    result = response.json()["data"]
    assert result["accepted"] == 0
    assert result["rejected"][0]["messages"] == [f"ranges must hold at most {imports.MAX_RANGES_PER_VIEW} pairs"]
    assert fingerprint(server.store) == before


# --- the beacon format ----------------------------------------------------------------------

EVENT_NAMES = ["viewinit", "viewstart", "play", "playing", "pause", "seeking", "seeked", "timeupdate", "viewend", "error"]


@st.composite
def range_strings(draw) -> str:
    """`video_playback_range`: a JSON string of "start:end" ms items, or something else."""
    items = draw(st.lists(st.one_of(
        PAIRS.map(lambda p: f"{p[0]}:{p[1]}"),
        PAIRS.map(lambda p: f"{p[1]}:{p[0]}"),  # reversed
        st.tuples(st.integers(-10**13, 10**13), st.integers(-10**13, 10**13)).map(lambda p: f"{p[0]}:{p[1]}"),
        TEXT, NUMBERS), max_size=10))
    return draw(st.sampled_from([json.dumps(items), json.dumps(items)[:-1], "[" + ",".join(map(str, items))]))


@st.composite
def events(draw, env_key: str) -> dict:
    event = {
        "ake": draw(maybe(st.just(env_key), st.one_of(TEXT, JSON_VALUES))),
        "xid": draw(maybe(st.sampled_from([f"bv-{i}" for i in range(12)]), st.one_of(IDS, JSON_VALUES))),
        "xsqno": draw(maybe(st.integers(0, 40), NUMBERS)),
        "e": draw(maybe(st.sampled_from(EVENT_NAMES), st.one_of(TEXT, JSON_VALUES))),
        "uti": draw(maybe(EPOCH_MS, NUMBERS)),
    }
    optional = {
        "xst": maybe(EPOCH_MS, NUMBERS), "vpr": maybe(range_strings(), JSON_VALUES),
        "vsodu": maybe(st.integers(1, 7_200_000), NUMBERS), "vid": maybe(st.sampled_from(["bvid-1", "bvid-2"]), IDS),
        "mem": maybe(st.just("mux-embed")), "memve": maybe(st.sampled_from(["5.19.0", "5.14.0", "x"])),
        "vsour": maybe(st.sampled_from(["https://stream.mux.com/pbx1.m3u8", "http://example.com/v.mp4"]), TEXT),
        "c1": JSON_VALUES, "pnm": JSON_VALUES, "vsoisli": st.booleans(),
    }
    for key in draw(st.lists(st.sampled_from(sorted(optional)), max_size=6, unique=True)):
        event[key] = draw(optional[key])
    for _ in range(draw(st.integers(0, 2))):  # keys of any shape
        event[draw(TEXT)] = draw(JSON_VALUES)
    return event


# Every event the beacon fuzzer got a 2xx for, per view id, in the order the server got them.
ACCEPTED_EVENTS: dict[str, list[BeaconEvent]] = defaultdict(list)


def record_accepted(body: bytes, env_key: str) -> set[str]:
    """Note the events of an acknowledged body that the server must keep; their view ids."""
    try:
        envelope = decode_body(body)
    except InvalidBeacon:
        return set()
    # The assembler folds a batch's events in sequence order (each POST here is its own batch).
    kept = sorted((e for fields in envelope.events if fields.get("env_key") == env_key
                   and (e := event_key(fields)) is not None), key=lambda event: event.sequence)
    for event in kept:
        ACCEPTED_EVENTS[event.view_id].append(event)
    return {e.view_id for fields in envelope.events if (e := event_key(fields)) is not None}


def check_views_match_their_events(server, environment_id: str, view_ids: set[str]) -> None:
    """Every stored beacon view is what all the events sent for it assemble to at once
    (the server folded them in over many POSTs). Times are left out: the server moves them
    by the clock skew it measured on arrival."""
    write_marker(server)  # every acknowledged event applied
    for view_id in view_ids & set(ACCEPTED_EVENTS):
        view, fold = server.store.get_view(environment_id, view_id), fold_events(ACCEPTED_EVENTS[view_id])
        if fold.events == 0:  # every event was numbered far ahead (folds.MAX_SEQUENCE_GAP): no view
            assert view is None, view_id
            continue
        rebuilt = view_from_fold(view_id, fold)
        assert view is not None, view_id
        assert (view.ranges, view.view_end_ms is None, view.duration_ms, view.video_id, view.reports_ranges) == (
            rebuilt.ranges, rebuilt.view_end_ms is None, rebuilt.duration_ms, rebuilt.video_id, rebuilt.reports_ranges)


@FUZZ
@given(data=st.data())
def test_beacon_bodies(target, data):
    server, tenant, client = target
    store = server.store
    envelope = {"events": data.draw(st.lists(events(tenant.env_key), max_size=6))}
    if data.draw(st.booleans()):
        envelope["metadata"] = {"transmission_timestamp": data.draw(maybe(EPOCH_MS, JSON_VALUES))}
    if data.draw(st.integers(0, 9)) == 0:
        envelope = data.draw(JSON_VALUES)  # not an envelope at all
    body = data.draw(mangled(json.dumps(envelope).encode()))
    before = write_marker(server)
    response = post(client, "/", body, data.draw(st.sampled_from(["text/plain", "application/json", ""])))
    assert response.status_code in (200, 400), response.text
    assert response.headers["access-control-allow-origin"] == "*"
    check_rejected_changes_nothing(response, before, server)
    if response.status_code == 200:
        check_views_match_their_events(server, tenant.environment_id, record_accepted(body, tenant.env_key))
        for video in ("bvid-1", "bvid-2"):
            got = client.get(f"/data/v1/engagement/videos/{video}/heatmap")
            reliability.count("fuzz: requests (format properties)")
            assert got.status_code in (200, 404), got.text


@functools.cache
def million_ranges_beacon(env_key: str) -> bytes:
    event = {"ake": env_key, "xid": "limits", "xsqno": 1, "e": "viewstart", "vpr": json.dumps(["0:1"] * 10**6)}
    return json.dumps({"events": [event]}).encode()


@FUZZ
@given(kind=st.sampled_from(["deep", "deep-value", "too-many-events", "too-many-views", "too-many-env-keys",
                             "oversized", "million-ranges"]),
       size=st.integers(1, 100_000))
def test_beacon_bodies_at_the_limits(target, kind, size):
    server, tenant, client = target
    store = server.store
    event = {"ake": tenant.env_key, "xid": "limits", "xsqno": 1, "e": "viewstart"}
    body = {
        "deep": lambda: deep(size),
        "deep-value": lambda: json.dumps({"events": [{**event, "x": "DEEP"}]}).encode().replace(
            b'"DEEP"', deep(min(size, 50_000))),
        "too-many-events": lambda: json.dumps({"events": [event] * (MAX_EVENTS_PER_BODY + 1 + size % 100)}).encode(),
        "too-many-views": lambda: json.dumps({"events": [{**event, "xid": f"fake-{i}"} for i in
                                                         range(MAX_VIEWS_PER_BODY + 1 + size % 500)]}).encode(),
        "too-many-env-keys": lambda: json.dumps({"events": [event] + [{**event, "ake": f"key-{i}"} for i in
                                                            range(MAX_ENV_KEYS_PER_BODY + size % 500)]}).encode(),
        "oversized": lambda: json.dumps({"events": [{**event, "x": "x" * (1024 * 1024 + size)}]}).encode(),
        "million-ranges": lambda: million_ranges_beacon(tenant.env_key),
    }[kind]()
    before = write_marker(server)
    response = post(client, "/", body, "text/plain")
    expected = 413 if kind in ("oversized", "million-ranges") else 400
    assert response.status_code == expected or (kind == "deep-value" and size <= 5 and response.status_code == 200)
    assert response.headers["access-control-allow-origin"] == "*"
    check_rejected_changes_nothing(response, before, server)
