"""`moments serve` and the door processes of `serve --workers N`."""

from __future__ import annotations

import gc
import logging
import socket
import sys
import time
from pathlib import Path
from typing import Callable

import click

from moments import accounts
from moments.api.logs import FORMATS, LEVELS, LogSettings
from moments.cli.common import fail, open_from, store_options
from moments.config import Settings

log_options = (
    click.option("--log-level", type=click.Choice(LEVELS), default="info", show_default=True,
                 envvar="MOMENTS_LOG_LEVEL", show_envvar=True,
                 help="What is logged (to stderr); info and below log one line per request."),
    click.option("--log-format", type=click.Choice(FORMATS), default="plain", show_default=True,
                 envvar="MOMENTS_LOG_FORMAT", show_envvar=True,
                 help="Plain lines, or one JSON object per line (time, level, logger, message, pid; requests: "
                      "method, path, query, status, duration_ms, client)."),
    click.option("--forwarded-allow-ips", default=None, envvar="FORWARDED_ALLOW_IPS", show_envvar=True,
                 help="Proxies whose X-Forwarded-For names the client (comma-separated addresses or "
                      "networks, * for any; default 127.0.0.1)."),
)


def with_log_options(command: Callable) -> Callable:
    """The log options, on `serve` and on the door processes it starts with the same values."""
    for option in reversed(log_options):
        command = option(command)
    return command


@click.command()
@store_options
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Load the demo environment with simulated audiences.")
@click.option("--beacon-path", default=None, help="Also collect beacons at this path (besides /).")
@click.option("--idle-timeout", type=click.FloatRange(1), default=None,
              help="Seconds without updates after which a view counts as completed (default 3600).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Processes: this one holds the store; the others take beacons and pass the rest to it.")
@click.option("--journal-dir", default=None,
              help="Where acknowledged beacons wait to be applied (default: beside the DuckDB file or chdb folder).")
@click.option("--metrics-token", default=None,
              help="Serve /metrics only with 'Authorization: Bearer TOKEN' (default: open; MOMENTS_METRICS_TOKEN "
                   "does the same and keeps the token out of the process list).")
@with_log_options
def serve(db: str | None, store_url: str | None, host: str, port: int, demo: bool, beacon_path: str | None,
          idle_timeout: float | None, workers: int, journal_dir: str | None, metrics_token: str | None,
          log_level: str, log_format: str, forwarded_allow_ips: str | None) -> None:
    """Serve the API on HOST:PORT."""
    import uvicorn

    from moments.api import workers as processes
    from moments.api.app import create_app, journal_root
    from moments.lab.demo import load_demo

    listener = listen(host, port)  # first: a taken port fails before anything is loaded or printed
    url = base_url(host, listener.getsockname()[1])  # the port chosen, for --port 0
    logs = LogSettings(log_level, log_format, forwarded_allow_ips)
    store = open_from(db, store_url)
    overrides = {"beacon_path": beacon_path, "idle_timeout_s": idle_timeout, "journal_dir": journal_dir,
                 "metrics_token": metrics_token or None}
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    try:
        root = journal_root(store, settings)
    except ValueError as error:  # a remote ClickHouse store and no journal folder
        store.close()
        fail(str(error))
    try:
        if demo:
            click.echo("Loading demo data (simulated audiences)...", err=True)
            environment, issued = load_demo(store, url)
        config = processes.config(create_app(store, settings), settings, logs)  # logging configured from here
        if demo:
            print_demo_banner(url, environment.environment_id, issued)
        else:
            announce(f"moments is serving {url}  (dashboard: /dashboard/, API docs: /docs)", logs)
        # Everything loaded so far lives as long as the server: keep the collector from
        # walking it again and again (long pauses show up as p99 latency under load).
        gc.freeze()
        if workers == 1:
            uvicorn.Server(config).run(sockets=[listener])
        else:
            processes.run(config, root, listener, workers, settings, logs)
    finally:
        store.close()


def announce(line: str, logs: LogSettings) -> None:
    """Where the server listens: on stdout, or as a log record when logs are JSON (one format
    for whatever collects the output)."""
    if logs.format == "json":
        logging.getLogger("moments").info(line)
    else:
        click.echo(line)
        sys.stdout.flush()


def base_url(host: str, port: int) -> str:
    """Where a browser on this machine reaches the server (a wildcard address is no destination)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def listen(host: str, port: int) -> socket.socket:
    """The server's listening socket, bound and listening, or a one-line error."""
    try:
        return socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET,
                                    backlog=2048)
    except OSError as error:
        fail(f"cannot listen on {host}:{port}: {error.strerror or error} "
             "(is another server using it? choose another --port)")


@click.command(hidden=True)
@click.option("--fd", type=int, required=True, help="The listening socket, inherited from the owner.")
@click.option("--journal-dir", required=True)
@click.option("--name", required=True)
@click.option("--beacon-path", default="")
@with_log_options
def door(fd: int, journal_dir: str, name: str, beacon_path: str, log_level: str, log_format: str,
         forwarded_allow_ips: str | None) -> None:
    """A door process of `serve --workers N` (started by the owner, not by hand)."""
    from moments.api.workers import run_door

    run_door(fd, Path(journal_dir), name, Settings(beacon_path=beacon_path),
             LogSettings(log_level, log_format, forwarded_allow_ips))


def print_demo_banner(url: str, environment_id: str, issued: accounts.IssuedToken) -> None:
    auth = f"{issued.token.token_id}:{issued.secret}"
    week_before = (int(time.time()) - 14 * 86_400, int(time.time()) - 7 * 86_400)
    click.echo(f"""
moments is serving {url}  (API docs: {url}/docs and {url}/redoc)
Demo environment: {environment_id}  (the same token on every start of this store)
  token id:     {issued.token.token_id}
  token secret: {issued.secret}

Dashboard: {url}/dashboard/  (sign in with the token id and secret above; demo-trailer plays along)

Try:
  curl -sS -u {auth} '{url}/data/v1/engagement/assets/demo-trailer/heatmap'
  curl -sS -u {auth} '{url}/data/v1/engagement/assets/demo-keynote/hotspots?order_direction=desc&limit=5'
  curl -sS -u {auth} -g '{url}/data/v1/engagement/videos/tutorial-setup/hotspots?timeframe[]=7:days&filters[]=device_type:phone'

From a shell (the moments CLI, Mux's SDKs and moments.client read these variables):
  export MUX_TOKEN_ID={issued.token.token_id} MUX_TOKEN_SECRET={issued.secret} MUX_BASE_URL={url} MOMENTS_URL={url}
  moments hotspots --asset demo-keynote --order-direction asc
  moments export heatmap --asset demo-keynote --output demo-keynote-heatmap.csv
  moments relative --asset demo-keynote
  moments compare --asset demo-keynote --against-timeframe {week_before[0]} --against-timeframe {week_before[1]}
""", err=False)
    sys.stdout.flush()
