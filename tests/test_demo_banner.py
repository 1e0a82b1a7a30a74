"""`moments serve --demo`'s banner: its shell lines work as printed, against the server that printed them."""

from __future__ import annotations

import csv
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx

from conftest import free_port

BIN = Path(sys.executable).parent  # where `moments` is installed beside this Python


def banner_of(server: subprocess.Popen, url: str) -> list[str]:
    """The banner's lines, once the server answers."""
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
        assert server.poll() is None, server.stderr.read()
    lines = []
    while not lines or not lines[-1].startswith("  moments export"):
        lines.append(server.stdout.readline().rstrip("\n"))
    return lines


def test_the_banner_shell_lines_run_as_printed(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items()
           if k not in ("MUX_TOKEN_ID", "MUX_TOKEN_SECRET", "MUX_BASE_URL", "MOMENTS_URL", "MOMENTS_STORE", "MOMENTS_DB")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    server = subprocess.Popen([sys.executable, "-m", "moments", "serve", "--demo", "--db", str(tmp_path / "demo.duckdb"),
                               "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = banner_of(server, url)
        shell = lines[lines.index("From a shell (the moments CLI, Mux's SDKs and moments.client read these variables):") + 1:]
        assert shell[0].startswith("  export ") and f"MOMENTS_URL={url}" in shell[0]
        hotspots = subprocess.run(["bash", "-c", f"{shell[0]} && {shell[1]} --json"], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=60)
        assert hotspots.returncode == 0, hotspots.stderr
        body = json.loads(hotspots.stdout)
        assert body["data"]["hotspots"]  # asked over HTTP: no store in this folder, and the server holds its own
        exported = subprocess.run(["bash", "-c", f"{shell[0]} && {shell[2]}"], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=60)
        assert exported.returncode == 0, exported.stderr
        output = shlex.split(shell[2])[-1]
        with open(tmp_path / output, newline="") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) > 1 and float(max(rows, key=lambda r: float(r["value"]))["value"]) > 0
    finally:
        server.terminate()
        server.wait(timeout=30)
