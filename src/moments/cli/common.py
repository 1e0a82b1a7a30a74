"""What the commands share: the store options, opening a store, output, and a query's target."""

from __future__ import annotations

import functools
import json
import os
import time
from dataclasses import dataclass

import click

from moments.config import Settings, default_db_path
from moments.filters import FilterError, Filters, parse_filters
from moments.model import Scope
from moments.store import open_store
from moments.store.base import Store


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

