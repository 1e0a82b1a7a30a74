"""Where `Client()` goes without a base_url, and the README's Python example, run as written
against the demo data on a real server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_async
from moments.client import AsyncClient, Client
from moments.lab.demo import load_demo

README = Path(__file__).resolve().parent.parent / "README.md"
URL_VARIABLES = ("MUX_BASE_URL", "MOMENTS_URL")


@pytest.fixture
def token_only(monkeypatch) -> None:
    """A token in the environment, as Mux's SDKs read it, and no server named there."""
    monkeypatch.setenv("MUX_TOKEN_ID", "id")
    monkeypatch.setenv("MUX_TOKEN_SECRET", "secret")
    for name in URL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def base_url_of(**given) -> str:
    with Client(**given) as client:
        return str(client._http.base_url).rstrip("/")


def test_without_a_url_the_client_asks_moments_serve_on_its_default_address(token_only, monkeypatch) -> None:
    assert base_url_of() == "http://127.0.0.1:8000"
    client = AsyncClient()
    assert str(client._http.base_url).rstrip("/") == "http://127.0.0.1:8000"
    run_async(client.aclose())  # Playwright may hold a running loop in this thread
    monkeypatch.setenv("MOMENTS_URL", "http://moments.example:9000/")
    assert base_url_of() == "http://moments.example:9000"
    monkeypatch.setenv("MUX_BASE_URL", "http://mux-compatible.example")  # what a program moved from Mux sets
    assert base_url_of() == "http://mux-compatible.example"
    assert base_url_of(base_url="http://given.example") == "http://given.example"


def test_a_token_is_still_required(monkeypatch) -> None:
    for name in ("MUX_TOKEN_ID", "MUX_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="MUX_TOKEN_ID and MUX_TOKEN_SECRET"):
        Client()


def readme_python_example() -> str:
    section = README.read_text().split("## Use it from Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_the_readme_python_example_runs_against_the_demo(store, start_server) -> None:
    _, issued = load_demo(store)
    server = start_server()
    env = {k: v for k, v in os.environ.items() if k not in URL_VARIABLES}
    # The token `serve --demo` prints, and where the server listens (the example's default is :8000).
    env |= {"MUX_TOKEN_ID": issued.token.token_id, "MUX_TOKEN_SECRET": issued.secret, "MOMENTS_URL": server.base_url}
    done = subprocess.run([sys.executable, "-c", readme_python_example()], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) > 10
    assert all(re.fullmatch(r"\s*\d+\.\d-\s*\d+\.\d s  \d+%", line) for line in lines), lines[:3]
