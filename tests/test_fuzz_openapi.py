"""schemathesis against the OpenAPI document the server serves (/openapi.json): requests
that fit the document and requests that break it (negative mode), with a valid token, a
wrong one or none. No 5xx, a request answered 4xx changes nothing in the store, and a 2xx
answer is the one the document declares.

Cases come from schemathesis' per-operation hypothesis strategies, driven here by plain
hypothesis tests (schemathesis' lazy pytest fixture does not run under pytest 9). Examples
per operation: MOMENTS_FUZZ_EXAMPLES (docs/reliability.md has the full run).
"""

from __future__ import annotations

import json

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from moments.api.app import create_app
from moments.model import Asset
from moments.store.duckdb import DuckDBStore

import reliability
from conftest import make_tenant, start_app
from reliability import write_marker

EXAMPLES = reliability.fuzz_examples(100)
DOCUMENT = create_app(None).openapi()  # what /openapi.json serves (checked below)
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
OPERATIONS = {f"{op.method.upper()} {op.path}": op for op in (result.ok() for result in SCHEMA.get_all_operations())}


@schemathesis.serializer("text/plain", "application/x-ndjson")
def _as_text(context, value):
    """mux-embed sends its JSON envelope as text/plain; NDJSON is text."""
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    store = DuckDBStore(str(tmp_path_factory.mktemp("openapi") / "fuzz.duckdb"))
    tenant = make_tenant(store, env_key="fuzzenv", rate_limit_per_s=1e9, rate_limit_burst=10**9)
    # Known ids, so generated requests also reach the queries, not only the 404s.
    store.put_asset(tenant.environment_id, Asset("0", 60_000, ("0",)))
    # No housekeeping rounds: each commits (moving the store's version) whatever it finds.
    server = start_app(store, max_import_bytes=512 * 1024, finalize_interval_s=10**9)
    session = requests.Session()
    yield store, tenant, server, session
    session.close()
    server.stop()
    store.close()


def test_the_fuzzed_document_is_the_served_one(target):
    _, _, server, session = target
    assert session.get(f"{server.base_url}/openapi.json").json() == DOCUMENT
    assert len(OPERATIONS) >= 16


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_operation(target, label):
    store, tenant, server, session = target
    operation = OPERATIONS[label]
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))
    credentials = st.sampled_from([tenant.auth] * 6 + [None, (tenant.token_id, "wrong"), ("nobody", "x")])

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    @given(case=cases, auth=credentials)
    def fuzz(case, auth):
        before = write_marker(server)
        response = case.call(base_url=server.base_url, session=session, auth=auth, timeout=60)
        reliability.count("fuzz: requests (schemathesis, OpenAPI document)")
        assert response.status_code < 500, (response.status_code, response.text[:500], case.as_curl_command())
        if response.status_code < 300:  # an answer is what the document declares (api/responses.py)
            operation.validate_response(response)
        if response.status_code >= 400:
            assert write_marker(server) == before, f"a {response.status_code} changed the store: {case.as_curl_command()}"
            reliability.count("fuzz: rejected requests that changed nothing")

    fuzz()
