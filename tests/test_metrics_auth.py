"""/metrics: open by default (what Prometheus scrapers expect), or only for the bearer token
the operator set (Settings.metrics_token, MOMENTS_METRICS_TOKEN, `moments serve --metrics-token`)."""

from __future__ import annotations

import httpx
import pytest

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
