"""`moments serve`'s logs: the level, one access line per request with its duration, plain or
JSON, and the client's address as a trusted proxy forwards it (`--forwarded-allow-ips`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from reliability import ServerProcess

FORWARDED_CLIENT = "203.0.113.9"  # what a proxy says the client is (TEST-NET-3)
BEACON_CLIENT = "203.0.113.7"


@pytest.fixture(autouse=True)
def no_log_settings_from_outside(monkeypatch):
    for name in ("MOMENTS_LOG_LEVEL", "MOMENTS_LOG_FORMAT", "FORWARDED_ALLOW_IPS"):
        monkeypatch.delenv(name, raising=False)


def served_log(tmp_path: Path, *args: str) -> tuple[str, str]:
    """Serve with `args`, make the same few requests, stop; the base URL and the whole log."""
    server = ServerProcess(tmp_path / "m.duckdb", tmp_path / "serve.log", args=args)
    try:
        server.start()
        assert httpx.get(f"{server.base_url}/healthz", headers={"X-Forwarded-For": FORWARDED_CLIENT}).status_code == 200
        refused = httpx.get(f"{server.base_url}/data/v1/engagement/assets/a1/heatmap?timeframe[]=7:days")
        assert refused.status_code == 401
        rejected = httpx.post(f"{server.base_url}/", content=b"not json", headers={"X-Forwarded-For": BEACON_CLIENT})
        assert rejected.status_code == 400
    finally:
        server.stop()
    return server.base_url, server.log()


def test_json_logs_are_one_object_per_line_and_requests_carry_their_fields(tmp_path):
    base_url, log = served_log(tmp_path, "--log-format", "json")
    lines = [json.loads(line) for line in log.splitlines()]  # every line is JSON, the first included
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    assert lines[0]["message"].startswith(f"moments is serving {base_url}")
    assert any(line["message"].startswith("ready:") for line in lines)
    access = [line for line in lines if line["logger"] == "moments.access"
              and not (line["path"] == "/healthz" and line["client"] == "127.0.0.1")]  # the readiness checks
    assert [(a["method"], a["path"], a["status"]) for a in access] == [
        ("GET", "/healthz", 200), ("GET", "/data/v1/engagement/assets/a1/heatmap", 401), ("POST", "/", 400)]
    assert access[1]["query"] == "timeframe[]=7:days"
    # 127.0.0.1, the default trusted proxy, forwarded the first and the last; the second came as is.
    assert [a["client"] for a in access] == [FORWARDED_CLIENT, "127.0.0.1", BEACON_CLIENT]
    assert all(isinstance(a["duration_ms"], float) and 0 <= a["duration_ms"] < 30_000 for a in access)
    (rejected,) = [line for line in lines if line["logger"] == "moments.collector"]
    assert rejected["level"] == "warning" and f"rejected beacon body from {BEACON_CLIENT}" in rejected["message"]


def test_an_untrusted_proxy_cannot_name_the_client(tmp_path):
    _, log = served_log(tmp_path, "--log-format", "json", "--forwarded-allow-ips", "192.0.2.1")
    access = [json.loads(line) for line in log.splitlines() if '"moments.access"' in line]
    assert {a["client"] for a in access} == {"127.0.0.1"} and len(access) >= 3
    assert "rejected beacon body from 127.0.0.1" in log and BEACON_CLIENT not in log


@pytest.mark.parametrize("level", ["info", "warning"])
def test_plain_logs_at_info_have_an_access_line_per_request_and_none_at_warning(tmp_path, level):
    base_url, log = served_log(tmp_path, "--log-level", level)
    lines = log.splitlines()
    assert lines[0] == f"moments is serving {base_url}  (dashboard: /dashboard/, API docs: /docs)"
    access = [line for line in lines if " moments.access: " in line
              and not re.search(r'127.0.0.1:\d+ "GET /healthz ', line)]  # the readiness checks
    warning = [line for line in lines if " WARNING moments.collector: " in line]
    assert len(warning) == 1 and f"rejected beacon body from {BEACON_CLIENT} (origin -)" in warning[0]
    if level == "warning":
        assert access == [] and not any(" INFO " in line for line in lines)
        return
    assert len(access) == 3 and any("ready:" in line for line in lines)
    assert re.search(rf'moments.access: {FORWARDED_CLIENT} "GET /healthz HTTP/1.1" 200 \d+\.\d\d ms$', access[0])
    assert re.search(r'moments.access: 127.0.0.1:\d+ "GET /data/v1/engagement/assets/a1/heatmap\?timeframe\[\]=7:days '
                     r'HTTP/1.1" 401 \d+\.\d\d ms$', access[1])


def test_the_log_options_are_checked(tmp_path):
    from click.testing import CliRunner

    from moments.cli import main

    result = CliRunner().invoke(main, ["serve", "--db", str(tmp_path / "m.duckdb"), "--log-level", "loud"])
    assert result.exit_code == 2 and "'loud' is not one of 'debug', 'info', 'warning', 'error'" in result.output
    assert not (tmp_path / "m.duckdb").exists()


@pytest.mark.parametrize(("host", "url"), [("0.0.0.0", "http://127.0.0.1:8000"), ("::", "http://[::1]:8000"),
                                           ("::1", "http://[::1]:8000"), ("192.0.2.4", "http://192.0.2.4:8000")])
def test_the_printed_address_is_one_a_browser_can_open(host, url):
    from moments.cli.serve import base_url

    assert base_url(host, 8000) == url  # also the demo trailer's playback_url
