"""Shared fixtures: a real DuckDB file, a real uvicorn server on 127.0.0.1, and Debian's Chromium."""

from __future__ import annotations

import asyncio
import concurrent.futures

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import httpx
import pytest
import uvicorn

from moments import accounts
from moments.api.app import create_app
from moments.api.connections import uvicorn_options
from moments.config import Settings
from moments.store.duckdb import DuckDBStore


@dataclass
class Tenant:
    environment_id: str
    env_key: str
    token_id: str
    token_secret: str

    @property
    def auth(self) -> tuple[str, str]:
        return (self.token_id, self.token_secret)


@dataclass
class Server:
    base_url: str
    store: DuckDBStore
    uvicorn_server: uvicorn.Server
    thread: threading.Thread

    def tenant(self, name: str = "test", **options) -> Tenant:
        return make_tenant(self.store, name, **options)

    def client(self, tenant: Tenant | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, auth=tenant.auth if tenant else None, timeout=30)

    def stop(self) -> None:
        """Shut down as on SIGTERM: the lifespan's end applies every acknowledged beacon."""
        self.uvicorn_server.should_exit = True
        self.thread.join(timeout=30)


def start_app(store: DuckDBStore, **settings) -> Server:
    """The real app under uvicorn in a thread on a free 127.0.0.1 port."""
    port = free_port()
    chosen = Settings(**settings)
    # With `moments serve`'s header deadline and connection bound (config.app stays the FastAPI app,
    # which tests reach into: the body deadline is tested through `moments serve` itself).
    config = uvicorn.Config(create_app(store, chosen), host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on", **uvicorn_options(chosen))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started:
        if time.time() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    return Server(f"http://127.0.0.1:{port}", store, server, thread)


def serving(db: Path) -> Iterator[Server]:
    """The app on the DuckDB file `db` until the generator is closed (a module fixture's body)."""
    store = DuckDBStore(str(db))
    running = start_app(store)
    yield running
    running.stop()
    store.close()


def make_tenant(store: DuckDBStore, name: str = "test", **options) -> Tenant:
    options.setdefault("rate_limit_per_s", 1000.0)
    options.setdefault("rate_limit_burst", 1000)
    environment, issued = accounts.create_environment(store, name, **options)
    return Tenant(environment.environment_id, environment.env_key, issued.token.token_id, issued.secret)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "moments.duckdb"


@pytest.fixture
def store(db_path: Path) -> Iterator[DuckDBStore]:
    s = DuckDBStore(str(db_path))
    yield s
    s.close()


@pytest.fixture
def start_server(store: DuckDBStore) -> Iterator[Callable[..., Server]]:
    """Start the real app on the test's store; settings can be overridden per test."""
    servers: list[Server] = []

    def start(**settings) -> Server:
        servers.append(start_app(store, **settings))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def server(start_server) -> Server:
    return start_server()


@pytest.fixture(scope="session")
def browser():
    """Debian's /usr/bin/chromium, headless, driven by Playwright (no downloaded browsers)."""
    from chromium import CHROMIUM, CHROMIUM_ARGS  # here, not at the top: chromium.py imports this module

    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the `playwright` package is missing: pip install -e '.[test]'", pytrace=False)
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()


def pytest_terminal_summary(terminalreporter) -> None:
    """Say where the browser tests left their screenshots (CI uploads artifacts/)."""
    import sys

    chromium = sys.modules.get("chromium")
    for folder in sorted(getattr(chromium, "written_artifact_dirs", ())):
        terminalreporter.write_line(f"browser screenshots and records: {folder}")
    # The figures docs/reliability.md quotes: kills survived, duplicates absorbed, requests fuzzed...
    figures = getattr(sys.modules.get("reliability"), "FIGURES", {})
    for name, value in sorted(figures.items()):
        terminalreporter.write_line(f"reliability figure: {name}: {value}")


def run_async(coroutine):
    """Run a coroutine to completion on a fresh loop in its own thread: Playwright's sync API
    (the session's browser) keeps an event loop running in the main thread."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
