"""The `moments` command: serve, environments and tokens, imports, assets, queries."""

from __future__ import annotations

import functools
import gc
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import click

from moments import accounts
from moments.config import Settings, default_db_path
from moments.filters import FilterError, Filters, parse_filters
from moments.ingestion.bulk import import_batches, read_columns
from moments.ingestion.imports import ImportResult, import_records, read_file
from moments.ingestion.assets import InvalidAsset, validate_asset
from moments.ingestion.origins import BadPattern, parse_patterns
from moments.model import Scope
from moments.store import open_store
from moments.store.base import Store

IMPORT_BATCH = 250_000  # views per transaction of `moments import`
PROGRESS_FROM = 50_000  # records; smaller imports finish before a bar would help


def store_options(command):
    command = click.option("--store", "store_url", default=None,
                           help="Store URL: duckdb:///path, chdb:///dir (ClickHouse in-process) or "
                           "clickhouse://user:pass@host:8123/database. Default: $MOMENTS_STORE, else --db.")(command)
    return click.option("--db", default=None, help="DuckDB file (default: $MOMENTS_DB, else ./moments.duckdb).")(command)


def open_from(db: str | None, store_url: str | None) -> Store:
    import duckdb  # loaded by the store anyway; its errors are the store's errors

    # Explicit flags first, then the environment, then ./moments.duckdb.
    target = store_url or db or os.environ.get("MOMENTS_STORE") or default_db_path()
    try:
        return open_store(target)
    except (ValueError, duckdb.Error) as error:
        # e.g. the file is held by a running `moments serve`, or its folder does not exist
        fail(f"cannot open store {target}: {error}")


def emit(value: dict, as_json: bool, human: str) -> None:
    click.echo(json.dumps(value) if as_json else human)


def fail(message: str) -> None:
    raise click.ClickException(message)


@click.group()
@click.version_option(package_name="moments")
def main() -> None:
    """Per-moment video engagement analytics with a Mux-compatible Engagement API."""


# --- serve -------------------------------------------------------------------------

@main.command()
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
def serve(db: str | None, store_url: str | None, host: str, port: int, demo: bool, beacon_path: str | None,
          idle_timeout: float | None, workers: int, journal_dir: str | None, metrics_token: str | None) -> None:
    """Serve the API on HOST:PORT."""
    import uvicorn

    from moments.api import workers as processes
    from moments.api.app import create_app, journal_root
    from moments.api.connections import bounded, uvicorn_options
    from moments.demo import load_demo

    store = open_from(db, store_url)
    if demo:
        click.echo("Loading demo data (simulated audiences)...", err=True)
        environment, issued = load_demo(store)
        print_demo_banner(host, port, environment.environment_id, issued)
    overrides = {"beacon_path": beacon_path, "idle_timeout_s": idle_timeout, "journal_dir": journal_dir,
                 "metrics_token": metrics_token or None}
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    try:
        root = journal_root(store, settings)
    except ValueError as error:  # a remote ClickHouse store and no journal folder
        store.close()
        fail(str(error))
    app = create_app(store, settings)
    try:
        # Everything loaded so far lives as long as the server: keep the collector from
        # walking it again and again (long pauses show up as p99 latency under load).
        gc.freeze()
        if workers == 1:
            uvicorn.run(bounded(app, settings), host=host, port=port, log_level="warning", **uvicorn_options(settings))
        else:
            processes.run(app, root, host, port, workers, settings)
    finally:
        store.close()


@main.command(hidden=True)
@click.option("--fd", type=int, required=True, help="The listening socket, inherited from the owner.")
@click.option("--journal-dir", required=True)
@click.option("--name", required=True)
@click.option("--beacon-path", default="")
def door(fd: int, journal_dir: str, name: str, beacon_path: str) -> None:
    """A door process of `serve --workers N` (started by the owner, not by hand)."""
    from moments.api.workers import run_door

    run_door(fd, Path(journal_dir), name, Settings(beacon_path=beacon_path))


def print_demo_banner(host: str, port: int, environment_id: str, issued: accounts.IssuedToken) -> None:
    url = f"http://{host}:{port}"
    auth = f"{issued.token.token_id}:{issued.secret}"
    click.echo(f"""
moments is serving {url}  (API docs: {url}/docs)
Demo environment: {environment_id}
  token id:     {issued.token.token_id}
  token secret: {issued.secret}

Dashboard: {url}/dashboard/  (sign in with the token id and secret above)

Try:
  curl -sS -u {auth} '{url}/data/v1/engagement/assets/demo-trailer/heatmap'
  curl -sS -u {auth} '{url}/data/v1/engagement/assets/demo-keynote/hotspots?order_direction=desc&limit=5'
  curl -sS -u {auth} -g '{url}/data/v1/engagement/videos/tutorial-setup/hotspots?timeframe[]=7:days&order_direction=asc'
""", err=False)
    sys.stdout.flush()


# --- environments and tokens -----------------------------------------------------------

@main.group()
def env() -> None:
    """Environments: each has its own views, tokens and env key."""


@env.command("create")
@click.argument("name")
@store_options
@click.option("--retention-days", default=100, show_default=True, type=click.IntRange(1, 3650))
@click.option("--rate-limit", default=5.0, show_default=True, type=click.FloatRange(0.01, 1e6),
              help="Requests per second, sustained.")
@click.option("--burst", default=20, show_default=True, type=click.IntRange(1, 10**6))
@click.option("--allowed-origin", "allowed_origins", multiple=True, metavar="PATTERN",
              help="A site beacons may come from (repeat for more; default: anywhere). See `env origins`.")
@click.option("--json", "as_json", is_flag=True)
def env_create(name: str, db, store_url, retention_days: int, rate_limit: float, burst: int,
               allowed_origins: tuple[str, ...], as_json: bool) -> None:
    """Create environment NAME with a read+write token."""
    patterns = _patterns(list(allowed_origins), "--allowed-origin")
    store = open_from(db, store_url)
    environment, issued = accounts.create_environment(store, name, retention_days, rate_limit, burst,
                                                      allowed_origins=patterns)
    store.close()
    value = {**accounts.environment_fields(environment), "token_id": issued.token.token_id,
             "token_secret": issued.secret, "permissions": list(issued.token.permissions)}
    emit(value, as_json, "\n".join(f"{k}: {v}" for k, v in value.items()))


@env.command("origins")
@click.argument("environment_id")
@click.argument("patterns", nargs=-1)
@store_options
@click.option("--json", "as_json", is_flag=True)
def env_origins(environment_id: str, patterns: tuple[str, ...], db, store_url, as_json: bool) -> None:
    """Set the sites ENVIRONMENT_ID takes beacons from, checked against each beacon request's
    Origin (or Referer): origins (https://example.com), hosts (example.com, any scheme and
    port), subdomains (*.example.com) and "none" (requests with neither header: native
    players). No PATTERNS: beacons from anywhere. A running server applies the change within
    a few seconds (PATCH /v1/environment does it at once, and works while the server holds
    the DuckDB file)."""
    parsed = _patterns(list(patterns), "PATTERNS")
    store = open_from(db, store_url)
    try:
        if store.get_environment(environment_id) is None:
            fail(f"no environment {environment_id!r}")
        store.set_allowed_origins(environment_id, parsed)
        environment = store.get_environment(environment_id)
    finally:
        store.close()
    value = accounts.environment_fields(environment)
    emit(value, as_json, "\n".join(f"{k}: {v}" for k, v in value.items()))


def _patterns(texts: list[str], hint: str) -> tuple[str, ...]:
    try:
        return parse_patterns(texts)
    except BadPattern as error:
        raise click.BadParameter(str(error), param_hint=hint) from None


@main.group()
def token() -> None:
    """Access tokens for the API."""


@token.command("create")
@click.option("--env", "environment_id", required=True)
@click.option("--permissions", default="read", show_default=True, help="Comma separated: read,write,admin")
@store_options
@click.option("--json", "as_json", is_flag=True)
def token_create(environment_id: str, permissions: str, db, store_url, as_json: bool) -> None:
    """Create an access token in an environment."""
    try:
        wanted = accounts.parse_permissions(permissions)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--permissions") from None
    store = open_from(db, store_url)
    try:
        issued = accounts.issue_token(store, environment_id, wanted)
    except LookupError as error:
        fail(str(error))
    finally:
        store.close()
    value = {"token_id": issued.token.token_id, "token_secret": issued.secret,
             "environment_id": environment_id, "permissions": list(wanted)}
    emit(value, as_json, "\n".join(f"{k}: {v}" for k, v in value.items()))


# --- import and assets ---------------------------------------------------------------

@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--env", "environment_id", required=True)
@store_options
@click.option("--json", "as_json", is_flag=True)
def import_command(file: Path, environment_id: str, db, store_url, as_json: bool) -> None:
    """Import views from a .json, .ndjson, .csv or .parquet FILE."""
    store = open_from(db, store_url)
    if store.get_environment(environment_id) is None:
        fail(f"no environment {environment_id!r}")
    started = time.perf_counter()
    table = read_columns(file)
    batches = import_batches(store, environment_id, table, IMPORT_BATCH) if table is not None else None
    count = table.num_rows if batches is not None else None
    if batches is None:  # view by view: the file is not one the fast path takes (or says what is wrong)
        try:
            records = read_file(file)
        except (ValueError, OSError) as error:
            fail(f"cannot read {file}: {error}")
        count = len(records)
        batches = _record_batches(store, environment_id, records)
    total = ImportResult()
    with click.progressbar(length=count, label="Importing", file=sys.stderr, hidden=count < PROGRESS_FROM) as bar:
        for number, batch in enumerate(batches):
            total.add(batch)
            bar.update(min(IMPORT_BATCH, count - number * IMPORT_BATCH))
    store.close()
    elapsed = time.perf_counter() - started
    lines = [f"accepted {total.accepted}, rejected {total.rejected_total} in {elapsed:.1f}s"]
    lines += [f"  #{r.index} {r.view_id}: {'; '.join(r.messages)}" for r in total.rejected[:20]]
    if total.rejected_total > 20:
        lines.append(f"  ... and {total.rejected_total - 20} more (--json lists the first {len(total.rejected)})")
    emit(total.to_json(), as_json, "\n".join(lines))


def _record_batches(store: Store, environment_id: str, records: list) -> Iterator[ImportResult]:
    for offset in range(0, len(records), IMPORT_BATCH):
        yield import_records(store, environment_id, records[offset:offset + IMPORT_BATCH], offset)


@main.group()
def assets() -> None:
    """Registered assets: duration, playback IDs, playable URL."""


@assets.command("put")
@click.argument("asset_id")
@click.option("--env", "environment_id", required=True)
@click.option("--duration-ms", required=True, type=int)
@click.option("--playback-id", "playback_ids", multiple=True, help="Repeat for several.")
@click.option("--playback-url", default=None)
@store_options
@click.option("--json", "as_json", is_flag=True)
def assets_put(asset_id: str, environment_id: str, duration_ms: int, playback_ids: tuple[str, ...],
               playback_url: str | None, db, store_url, as_json: bool) -> None:
    """Register or replace ASSET_ID."""
    from moments.api.validation import path_id  # same id rules as the HTTP path

    body = {"duration_ms": duration_ms, "playback_ids": list(playback_ids), "playback_url": playback_url}
    try:
        asset = validate_asset(path_id("asset id", asset_id) and asset_id, body)
    except InvalidAsset as error:
        fail("; ".join(error.messages))
    except Exception as error:  # ApiError from path_id
        fail(str(error))
    store = open_from(db, store_url)
    if store.get_environment(environment_id) is None:
        fail(f"no environment {environment_id!r}")
    store.put_asset(environment_id, asset)
    store.close()
    value = {"asset_id": asset.asset_id, "duration_ms": asset.duration_ms,
             "playback_ids": list(asset.playback_ids), "playback_url": asset.playback_url}
    emit(value, as_json, "\n".join(f"{k}: {v}" for k, v in value.items()))


# --- queries ---------------------------------------------------------------------

def query_options(command):
    """--env, one of --asset/--video/--playback-id, --timeframe, --filter, --json and the store options;
    the command receives them bundled as `target` (a QueryTarget) and `as_json`."""
    @functools.wraps(command)
    def bundled(environment_id, asset, video, playback_id, timeframe, filters, db, store_url, **rest):
        chosen = [(s, v) for s, v in ((Scope.ASSET, asset), (Scope.VIDEO, video), (Scope.PLAYBACK_ID, playback_id)) if v]
        if len(chosen) != 1:
            raise click.UsageError("give exactly one of --asset, --video, --playback-id")
        try:
            parsed = parse_filters(list(filters))
        except FilterError as error:
            raise click.BadParameter(str(error), param_hint="--filter") from None
        target = QueryTarget(environment_id, chosen[0][0], chosen[0][1], tuple(timeframe), parsed, db, store_url)
        return command(target=target, **rest)

    bundled = click.option("--json", "as_json", is_flag=True)(bundled)
    bundled = click.option("--filter", "filters", multiple=True, metavar="DIM:VALUE",
                           help="Only matching views, Mux syntax: country:US, !device_type:tv (repeat the option).")(bundled)
    bundled = click.option("--timeframe", multiple=True,
                           help="A duration (7:days) or two epoch seconds (repeat the option).")(bundled)
    bundled = click.option("--playback-id", default=None)(bundled)
    bundled = click.option("--video", default=None)(bundled)
    bundled = click.option("--asset", default=None)(bundled)
    bundled = click.option("--env", "environment_id", required=True)(bundled)
    return store_options(bundled)


@dataclass(frozen=True)
class QueryTarget:
    """What a query command asked about: environment, scope and id, timeframe, filters, store."""

    environment_id: str
    scope: Scope
    scope_id: str
    timeframe: tuple[str, ...]
    filters: Filters
    db: str | None
    store_url: str | None

    def run(self, query):
        """`query(store, environment, window_s, now_ms, settings)` with usage errors as CLI messages."""
        from moments import stats
        from moments.engagement.timeframe import TimeframeError

        settings = Settings()
        store = open_from(self.db, self.store_url)
        try:
            environment = store.get_environment(self.environment_id)
            if environment is None:
                fail(f"no environment {self.environment_id!r}")
            now_ms = int(time.time() * 1000)
            window = stats.effective_timeframe(list(self.timeframe), environment, now_ms // 1000,
                                               settings.default_timeframe_s)
            return query(store, environment, window, now_ms, settings)
        except TimeframeError as error:
            raise click.BadParameter(str(error), param_hint="--timeframe") from None
        except stats.UnknownScopeId:
            fail(f"{self.scope.value} {self.scope_id!r} not found")
        finally:
            store.close()


def run_query(target: QueryTarget, with_hotspots: bool):
    # Imported here: the engagement engine (numpy, scipy) is only needed by queries.
    from moments import stats

    return target.run(lambda store, environment, window, now_ms, settings: stats.engagement(
        store, environment, target.scope, target.scope_id, window, now_ms, settings.idle_timeout_s,
        with_hotspots, target.filters))


def mm_ss(ms: float) -> str:
    seconds = int(ms // 1000)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


@main.command()
@query_options
@click.option("--plot", is_flag=True, help="Draw the curve and the hotspots in the terminal.")
@click.option("--png", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the curve and the hotspots as a PNG picture (needs the `plot` extra).")
def heatmap(target: QueryTarget, as_json: bool, plot: bool, png: Path | None) -> None:
    """The engagement heatmap (Mux response shape with --json)."""
    from moments import stats
    from moments.cli.exports import heatmap_png, heatmap_plot

    result = run_query(target, plot or png is not None)  # pictures mark the hotspots
    if png is not None:
        heatmap_png(result, target, png)
    if as_json:
        click.echo(json.dumps(stats.heatmap_json(result)))
        return
    if plot:
        click.echo(heatmap_plot(result))
        return
    click.echo(f"views: {result.total_views}   timeframe: {result.timeframe[0]}..{result.timeframe[1]}")
    n = len(result.values)
    for i, value in enumerate(result.values):
        click.echo(f"{mm_ss(i * result.duration_ms / n):>8}  {value:6.3f}  {'#' * round(value * 50)}")


@main.command()
@query_options
@click.option("--limit", type=click.IntRange(1), default=None)
@click.option("--order-direction", type=click.Choice(["desc", "asc"]), default="desc", show_default=True)
def hotspots(target: QueryTarget, as_json: bool, limit: int | None, order_direction: str) -> None:
    """Hotspots (peaks) and cold spots (Mux response shape with --json)."""
    from moments import stats

    result = run_query(target, True)
    body = stats.hotspots_json(result, limit, order_direction)
    if as_json:
        click.echo(json.dumps(body))
        return
    click.echo(f"views: {result.total_views}   hotspots: {body['total_row_count']}")
    for h in body["data"]["hotspots"]:
        kind = "peak" if h["score"] > 0.5 else "cold"
        click.echo(f"{mm_ss(h['start_ms']):>8} - {mm_ss(h['end_ms']):<8} {kind}  score {h['score']:.3f}")


@main.command("eval-hotspots")
@click.option("--quick", is_flag=True, help="The smaller run CI makes (no power table).")
@click.option("--write", "write_to", type=click.Path(exists=True, dir_okay=False),
              help="Also put the tables in this file (docs/hotspots.md) between its markers.")
def eval_hotspots(quick: bool, write_to: str | None) -> None:
    """Evaluate the hotspot detector on random simulated audiences (docs/hotspots.md)."""
    from pathlib import Path

    from moments.evaluation import report

    evaluation = report.evaluate(report.QUICK if quick else report.FULL)
    click.echo(report.markdown(evaluation))
    if write_to:
        report.write(Path(write_to), evaluation)


# The other commands live beside this module; importing them registers them on `main`
# (imported last: they use the above).
from moments.cli import compare, exports, views  # noqa: E402,F401
