"""What `moments serve` prints: only once it listens; the demo's shell lines work as printed."""

from __future__ import annotations

import csv
import json
import os
import shlex
import socket
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


def test_a_taken_port_fails_first_with_one_clear_line(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "moments", "serve", "--demo", "--db", str(tmp_path / "m.duckdb"),
                               "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and done.stdout == ""  # no banner, no token, no curl lines
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "--port" in done.stderr
    assert "Loading demo" not in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "m.duckdb").exists()  # nothing was loaded


def test_plain_serve_says_where_it_listens_once_it_does(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "moments", "env", "create", "site", "--db", str(tmp_path / "m.duckdb")],
                   check=True, capture_output=True, timeout=60)
    server = subprocess.Popen([sys.executable, "-m", "moments", "serve", "--db", str(tmp_path / "m.duckdb"),
                               "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        url = line.split()[3]
        assert line.startswith("moments is serving http://127.0.0.1:") and not url.endswith(":0"), line
        assert httpx.get(f"{url}/healthz", timeout=30).status_code == 200  # the printed address answers
    finally:
        server.terminate()
        server.wait(timeout=30)
