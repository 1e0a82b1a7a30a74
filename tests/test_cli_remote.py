"""The CLI beside a running server: every query command with --url and a token prints exactly
what it prints from the store, over the same data; the server's refusals become clear errors;
`moments import --url` posts the views and reports rejections as the local import does.

The commands run in this process (click's runner: a subprocess costs a second of imports
each) against a real server on 127.0.0.1 (tests/conftest.py) and a real DuckDB file: the
server holds one file, the local runs read a copy of it taken before it started.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from conftest import Server, Tenant, free_port, make_tenant, start_app
from moments.cli import main
from moments.ingestion.imports import import_records
from moments.model import Asset
from moments.store.duckdb import DuckDBStore
from test_cli import AUDIENCE, NOW_MS, REGISTERED_MS

# Every variable that would pick a store or a server: a test names its own.
SOURCES = ("MOMENTS_URL", "MUX_TOKEN_ID", "MUX_TOKEN_SECRET", "MOMENTS_DB", "MOMENTS_STORE", "MUX_BASE_URL")
NOW_S = NOW_MS // 1000
# An explicit window (two epoch seconds): local and remote runs, a few seconds apart, ask for the same one.
WINDOW = ["--timeframe", str(NOW_S - 3 * 86_400), "--timeframe", str(NOW_S)]
OLDER = ["--against-timeframe", str(NOW_S - 6 * 86_400), "--against-timeframe", str(NOW_S - 3 * 86_400)]


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    environment = {name: None for name in SOURCES} | {"COLUMNS": "100"} | (env or {})
    return CliRunner().invoke(main, list(args), env=environment, catch_exceptions=False)


@dataclass
class Served:
    folder: Path
    local_db: Path  # a copy of the server's file, taken before it started
    server: Server
    tenant: Tenant

    def local(self, *args: str) -> Result:
        return cli(*args, "--env", self.tenant.environment_id, "--db", str(self.local_db))

    def remote(self, *args: str) -> Result:
        """Asked of the server, with the token in the variables Mux's SDKs read."""
        return cli(*args, "--env", self.tenant.environment_id, env={
            "MOMENTS_URL": self.server.base_url, "MUX_TOKEN_ID": self.tenant.token_id,
            "MUX_TOKEN_SECRET": self.tenant.token_secret})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("remote")
    db = folder / "served.duckdb"
    store = DuckDBStore(str(db))
    tenant = make_tenant(store)
    store.put_asset(tenant.environment_id, Asset("trailer", REGISTERED_MS, ("pb-one", "pb-two")))
    assert import_records(store, tenant.environment_id, AUDIENCE).rejected_total == 0
    store.close()
    local_db = folder / "local.duckdb"
    shutil.copyfile(db, local_db)
    store = DuckDBStore(str(db))
    server = start_app(store)
    yield Served(folder, local_db, server, tenant)
    server.stop()
    store.close()


SAME_OUTPUT = {
    "heatmap": ["heatmap", "--asset", "trailer", *WINDOW],
    "heatmap-json": ["heatmap", "--asset", "trailer", *WINDOW, "--json"],
    "heatmap-plot": ["heatmap", "--asset", "trailer", *WINDOW, "--plot"],
    "hotspots": ["hotspots", "--asset", "trailer", *WINDOW],
    "hotspots-json": ["hotspots", "--playback-id", "pb-one", *WINDOW, "--limit", "1", "--order-direction", "asc",
                      "--json"],
    "filtered": ["heatmap", "--video", "film", *WINDOW, "--filter", "country:FR"],
    "layers": ["layers", "--video", "film", *WINDOW],
    "relative": ["relative", "--asset", "trailer", *WINDOW],
    "compare-ids": ["compare", "--playback-id", "pb-one", "--against", "pb-two", *WINDOW],
    "compare-json": ["compare", "--asset", "trailer", *WINDOW, *OLDER, "--json"],
    "views": ["views", "--asset", "trailer", *WINDOW, "--limit", "3"],
    "view": ["view", "v0007"],
    "assets-list": ["assets", "list"],
    "assets-get": ["assets", "get", "trailer", "--json"],
    "unknown-id": ["heatmap", "--asset", "nope", *WINDOW],
}


@pytest.mark.parametrize("name", SAME_OUTPUT)
def test_a_command_prints_the_same_from_the_store_and_from_a_running_server(served: Served, name: str) -> None:
    local, remote = served.local(*SAME_OUTPUT[name]), served.remote(*SAME_OUTPUT[name])
    assert (remote.exit_code, remote.stdout, remote.stderr) == (local.exit_code, local.stdout, local.stderr)
    if name == "unknown-id":
        assert local.exit_code == 1 and local.stderr == "Error: asset 'nope' not found\n"
    else:
        assert local.exit_code == 0 and local.stdout.strip(), local.stderr
    if name == "heatmap":  # the data is there, in words: 300 views over the three days asked for
        assert re.match(r"views: 300   timeframe: \S+ \S+ \.\. \S+ \S+ UTC \(3 days\)\n", local.stdout)


@pytest.mark.parametrize("what, fmt", [("hotspots", "csv"), ("layers", "parquet")])
def test_exports_write_the_same_file_from_the_store_and_from_a_running_server(served: Served, what: str,
                                                                             fmt: str) -> None:
    outputs = {side: served.folder / f"{what}-{side}.{fmt}" for side in ("local", "remote")}
    local = served.local("export", what, "--asset", "trailer", *WINDOW, "--format", fmt, "--json",
                         "--output", str(outputs["local"]))
    remote = served.remote("export", what, "--asset", "trailer", *WINDOW, "--format", fmt, "--json",
                           "--output", str(outputs["remote"]))
    assert local.exit_code == remote.exit_code == 0, (local.stderr, remote.stderr)
    summaries = {side: json.loads(result.stdout) for side, result in (("local", local), ("remote", remote))}
    assert summaries["local"].pop("path") == str(outputs["local"])
    assert summaries["remote"].pop("path") == str(outputs["remote"])
    assert summaries["local"] == summaries["remote"]
    assert summaries["local"]["total_views"] == 300 and summaries["local"]["rows"] > 0
    assert outputs["local"].read_bytes() == outputs["remote"].read_bytes()


def test_views_export_is_the_same_from_the_store_and_from_a_running_server(served: Served) -> None:
    outputs = {side: served.folder / f"views-{side}.parquet" for side in ("local", "remote")}
    local = served.local("export", "views", "--asset", "trailer", *WINDOW, "--output", str(outputs["local"]))
    remote = served.remote("export", "views", "--asset", "trailer", *WINDOW, "--output", str(outputs["remote"]))
    assert local.exit_code == remote.exit_code == 0, (local.stderr, remote.stderr)
    assert remote.stdout.replace(str(outputs["remote"]), "FILE") == local.stdout.replace(str(outputs["local"]), "FILE")
    # Every completed view of the asset (through its playback IDs too), the old SDK's one included.
    assert local.stdout.startswith("wrote 301 views to ")
    assert pq.read_table(outputs["local"]).equals(pq.read_table(outputs["remote"]))


# --- the server's refusals --------------------------------------------------------------------

def test_a_remote_refusal_is_a_clear_error(served: Served) -> None:
    url = served.server.base_url
    tenant = served.tenant
    token = ["--token-id", tenant.token_id, "--token-secret", tenant.token_secret]
    cases = [  # (args, exit status, what stderr says)
        (["heatmap", "--asset", "trailer", "--url", url, "--token-id", tenant.token_id, "--token-secret", "wrong"],
         1, f"{url} refused the token (401): check --token-id and --token-secret"),
        (["heatmap", "--asset", "trailer", "--url", url, *token, "--timeframe", "banana"],
         1, f"{url} refused the request (400): timeframe[] 'banana' must be"),
        (["heatmap", "--asset", "trailer", "--url", url, *token, "--env", "another-env"],
         1, f"the token belongs to environment {tenant.environment_id!r}, not 'another-env'"),
        (["view", "no-such-view", "--url", url, *token], 1, "view 'no-such-view' not found"),
        (["assets", "get", "nope", "--url", url, *token], 1, "asset 'nope' not found"),
        (["heatmap", "--asset", "trailer", "--url", url], 2, "--url needs a token: --token-id and --token-secret"),
        (["heatmap", "--asset", "trailer", "--url", url, *token, "--db", str(served.local_db)],
         2, "give --url (a running server) or --db/--store (a store), not both"),
        (["heatmap", "--asset", "trailer"], 2, "Missing option '--env'"),
    ]
    for args, status, message in cases:
        result = cli(*args)
        assert (result.exit_code, result.stdout) == (status, ""), (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)


def test_an_unreachable_server_is_named(served: Served) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = cli("hotspots", "--asset", "trailer", "--url", url, "--token-id", "a", "--token-secret", "b")
    assert result.exit_code == 1 and result.stderr.startswith(f"Error: cannot reach {url}: ")


class NotMoments(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html>a web page</html>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_a_server_that_is_not_moments_is_named() -> None:
    web = ThreadingHTTPServer(("127.0.0.1", 0), NotMoments)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{web.server_address[1]}"
        result = cli("heatmap", "--asset", "trailer", "--url", url, "--token-id", "a", "--token-secret", "b")
    finally:
        web.shutdown()
        web.server_close()
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error: {url} did not answer as a moments server does (is it the right address?)\n"


# --- import over HTTP ---------------------------------------------------------------------------

def test_import_through_a_running_server_reports_as_the_local_import(server: Server, tmp_path: Path) -> None:
    start = NOW_MS - 86_400_000
    good = {"asset_id": "posted", "view_start": start, "view_end": start + 10_000, "duration_ms": 10_000,
            "ranges": [[0, 10_000]]}
    path = tmp_path / "some-bad.ndjson"
    path.write_text("\n".join([
        json.dumps({"view_id": "p1", **good}),
        "",
        json.dumps({"view_id": "p2", **good, "duration_ms": "long"}),
        '{"view_id": "p3", ',
        json.dumps({"view_id": "p4", **good, "ranges": [[0, 5_000]]}),
    ]) + "\n")
    tenant = server.tenant()
    local_db = tmp_path / "local.duckdb"
    store = DuckDBStore(str(local_db))
    local_env = make_tenant(store).environment_id
    store.close()

    local = cli("import", str(path), "--env", local_env, "--db", str(local_db))
    remote = cli("import", str(path), "--url", server.base_url, "--token-id", tenant.token_id,
                 "--token-secret", tenant.token_secret)
    assert local.exit_code == remote.exit_code == 3  # some records rejected, the others stored
    broken = "line 4 is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 19 (char 18)"
    expected = ["  line 3 (p2): duration_ms: expected an integer, got 'long'", f"  line 4: {broken}"]
    for result in (local, remote):
        lines = result.stdout.splitlines()
        assert re.fullmatch(r"accepted 2, rejected 2 in \d+\.\ds", lines[0]) and lines[1:] == expected, result.stdout

    # The server stored the two good views, in the token's environment.
    with server.client(tenant) as client:
        body = client.get("/data/v1/engagement/assets/posted/heatmap").json()
    assert body["data"]["total_views"] == 2 and body["data"]["value"] == [1.0] * 5 + [0.5] * 5

    # --json: the API's own body, indexes from 0 as POST /v1/views answers.
    again = cli("import", str(path), "--json", "--url", server.base_url, "--token-id", tenant.token_id,
                "--token-secret", tenant.token_secret)
    assert again.exit_code == 3
    assert json.loads(again.stdout)["data"] == {"accepted": 2, "rejected_total": 2, "rejected": [
        {"index": 1, "view_id": "p2", "messages": ["duration_ms: expected an integer, got 'long'"]},
        {"index": 2, "view_id": None, "messages": [broken]},
    ]}
