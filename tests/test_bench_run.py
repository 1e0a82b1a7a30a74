"""bench/run.py --quick, as CI runs it: the script runs end to end, its report has every row and
mode, both SQL baselines agreed with ours, and --from-log renders the same page. Seconds per
measurement; never a timing assertion."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENDPOINTS = ("heatmap", "video heatmap", "hotspots", "filtered heatmap", "layers", "relative")


def quick(tmp_path: Path, *args: str) -> tuple[str, list[dict]]:
    out, log = tmp_path / "benchmarks.md", tmp_path / "run.log"
    subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--out", str(out), "--log", str(log),
                    *args], check=True, capture_output=True, text=True, timeout=240, cwd=ROOT)
    return out.read_text(), [json.loads(line) for line in log.read_text().splitlines()]


def check(text: str, records: list[dict], store: str, tmp_path: Path) -> None:
    kinds = {r["event"] for r in records}
    assert {"run", "ceiling", "built", "in_process", "baseline", "http", "cold", "ingest", "rss", "end"} <= kinds
    baselines = {r["name"]: r for r in records if r["event"] == "baseline"}
    assert set(baselines) == {"competent", "naive"}
    assert all(b["equal"] and b["max_abs_difference"] <= 1e-9 for b in baselines.values())
    http = {(r["endpoint"], r["mode"], r["connections"]) for r in records if r["event"] == "http"}
    slow = {r["endpoint"] for r in records if r["event"] == "slow"}  # measured with one connection only
    for endpoint in ENDPOINTS:
        for mode in ("cached", "uncached"):
            assert (endpoint, mode, 1) in http and (endpoint in slow or (endpoint, mode, 4) in http)
        assert (endpoint, "under ingest", 1) in http
        assert any(r["event"] == "cold" and r["endpoint"] == endpoint and r["samples"] >= 1 for r in records)
        for mode in ("cached", "uncached"):
            assert any(r["event"] == "in_process" and r["endpoint"] == endpoint and r["mode"] == mode for r in records)
    # Every uncached request asked a window of its own: the response cache could answer none.
    for r in records:
        if r["event"] == "http" and r["mode"] != "cached":
            assert r["distinct_paths"] == r["requests"] + sum(r["non_200"].values())
    assert next(r for r in records if r["event"] == "ingest")["posts"] > 0
    assert next(r for r in records if r["event"] == "in_process" and r["endpoint"] == "relative")["peers"] == 20  # --quick's peers
    for heading in ("Heatmap against the SQL baselines", "Every endpoint in process", "latency, one connection",
                    "throughput", "Targets"):
        assert heading in text
    for endpoint in ENDPOINTS:
        assert f"| 1,000 | {endpoint} |" in text
    assert "competent" in text and "equal" in text and "generator's own ceiling" in text
    assert ("# The ClickHouse store on chdb" in text) == (store == "chdb")
    # The page is rendered from the log alone.
    again = tmp_path / "again.md"
    subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--from-log", str(tmp_path / "run.log"),
                    "--out", str(again)], check=True, capture_output=True, timeout=120, cwd=ROOT)
    assert again.read_text() == text


def test_quick_run_duckdb(tmp_path):
    text, records = quick(tmp_path)
    check(text, records, "duckdb", tmp_path)


@pytest.mark.skipif(importlib.util.find_spec("chdb") is None, reason="chdb is not installed")
def test_quick_run_chdb(tmp_path):
    text, records = quick(tmp_path, "--store", "chdb")
    check(text, records, "chdb", tmp_path)
