"""/metrics: open by default (what Prometheus scrapers expect), or only for the bearer token
the operator set (Settings.metrics_token, MOMENTS_METRICS_TOKEN, `moments serve --metrics-token`)."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reliability import ServerProcess
from test_auth_hardening import raw_get

TOKEN = "scrape-me-7f3a"


def test_metrics_are_open_by_default(server):
    response = httpx.get(f"{server.base_url}/metrics")
    assert response.status_code == 200 and "moments_" in response.text


def test_a_metrics_token_is_required_when_set(start_server):
    server = start_server(metrics_token=TOKEN)
    url = f"{server.base_url}/metrics"
    for headers in ({}, {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": "Bearer"},
                    {"Authorization": f"Basic {TOKEN}"}, {"Authorization": f"Bearer {TOKEN[:-1]}"}):
        response = httpx.get(url, headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"]["type"] == "unauthorized" and response.headers["www-authenticate"].startswith("Bearer")
        assert "moments_" not in response.text
    status, _ = raw_get(server.base_url, "/metrics", [("Authorization", f"Bearer {TOKEN}")] * 2)
    assert status == 401  # two headers: which one counts is ambiguous
    response = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200 and "moments_" in response.text
    assert httpx.get(f"{server.base_url}/healthz").status_code == 200  # liveness stays open


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_serve_takes_the_metrics_token_from_a_flag_or_the_environment(tmp_path, how):
    server = ServerProcess(tmp_path / "m.duckdb", tmp_path / "serve.log",
                           env={"MOMENTS_METRICS_TOKEN": TOKEN} if how == "environment" else None,
                           args=("--metrics-token", TOKEN) if how == "flag" else ())
    try:
        server.start()
        assert httpx.get(f"{server.base_url}/metrics").status_code == 401
        assert httpx.get(f"{server.base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    finally:
        server.stop()


HEATMAP_ROUTE = "/data/v1/engagement/assets/{scope_id:path}/heatmap"


def request_series(text: str) -> dict[str, dict[tuple[str, str, str], float]]:
    """moments_http_* samples by name, keyed by (route, method, status) (and le, for buckets)."""
    series: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("moments_http_"):
                labels = sample.labels
                key = (labels["route"], labels["method"], labels["status"]) + ((labels["le"],) if "le" in labels else ())
                series.setdefault(sample.name, {})[key] = sample.value
    return series


def test_requests_are_counted_and_timed_by_route_template_method_and_status_class(start_server):
    server = start_server(metrics_token=TOKEN)
    tenant = server.tenant()
    with server.client(tenant) as client:
        for _ in range(3):  # the route answers 404 for an asset it does not know
            assert client.get("/data/v1/engagement/assets/no-such-asset-81/heatmap").status_code == 404
        assert client.get("/data/v1/engagement/assets/no-such-asset-82/heatmap").status_code == 404
        for _ in range(2):
            assert client.get("/healthz").status_code == 200
        assert client.get("/no/such/page-83").status_code == 404
        assert client.post("/", content=b"not a beacon").status_code == 400
        assert client.get("/metrics").status_code == 401  # without the token: counted all the same
    response = httpx.get(f"{server.base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    series = request_series(response.text)
    assert series["moments_http_requests_total"] == {
        (HEATMAP_ROUTE, "GET", "4xx"): 4, ("/healthz", "GET", "2xx"): 2, ("unmatched", "GET", "4xx"): 1,
        ("/", "POST", "4xx"): 1, ("/metrics", "GET", "4xx"): 1}
    assert "no-such-asset" not in response.text and "page-83" not in response.text  # templates, never paths
    histogram = series["moments_http_request_duration_seconds_bucket"]
    heatmap_buckets = sorted(((float(le), n) for (route, _, status, le), n in histogram.items()
                              if route == HEATMAP_ROUTE), key=lambda pair: pair[0])
    counts = [n for _, n in heatmap_buckets]
    assert counts == sorted(counts) and heatmap_buckets[-1] == (float("inf"), 4)  # cumulative, all 4 within +Inf
    assert series["moments_http_request_duration_seconds_count"][(HEATMAP_ROUTE, "GET", "4xx")] == 4
    assert 0 < series["moments_http_request_duration_seconds_sum"][(HEATMAP_ROUTE, "GET", "4xx")] < 60
