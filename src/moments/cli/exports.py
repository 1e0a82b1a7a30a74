"""`moments layers`, `moments export ...` and the heatmap's pictures (`heatmap --plot/--png`).

Registered on `moments.cli.main` by the package.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from moments.cli.common import QueryTarget, fail, mm_ss, query_options
from moments.model import Scope

if TYPE_CHECKING:  # the engine (numpy, scipy) loads only when a query runs
    from moments.stats import Engagement


# --- heatmap --plot / --png --------------------------------------------------------------

def heatmap_plot(result: Engagement) -> str:
    """The terminal picture of a stats.Engagement, as wide as the terminal ($COLUMNS when not a tty)."""
    from moments.cli.plots import terminal_plot

    header = f"views: {result.total_views}   timeframe: {result.timeframe[0]}..{result.timeframe[1]}"
    if not result.total_views:
        return f"{header}\nno views in this timeframe"
    columns = shutil.get_terminal_size((80, 24)).columns
    return f"{header}\n{terminal_plot(result.values.tolist(), result.duration_ms, result.hotspots, columns)}"


def heatmap_png(result: Engagement, target: QueryTarget, path: Path) -> None:
    from moments.cli.plots import PlotUnavailable, write_png

    if not result.total_views:
        fail("no views in this timeframe: nothing to draw")
    title = (f"{target.scope.value} {target.scope_id}: {result.total_views} views, "
             f"timeframe {result.timeframe[0]}..{result.timeframe[1]}")
    try:
        write_png(path, result.values.tolist(), result.duration_ms, result.hotspots, title)
    except PlotUnavailable as error:
        fail(str(error))
    except OSError as error:
        fail(f"cannot write {path}: {error}")
    click.echo(f"wrote {path}", err=True)


# --- layers ------------------------------------------------------------------------------

@click.command()
@query_options
def layers(target: QueryTarget, as_json: bool) -> None:
    """The heatmap beside its rewatch, arrival and departure layers, per bucket."""
    from moments import stats

    result = target.run(lambda store, environment, window, now_ms, settings: stats.layers(
        store, environment, target.scope, target.scope_id, window, now_ms, settings.idle_timeout_s, target.filters))
    if as_json:
        click.echo(json.dumps(stats.layers_json(result)))
        return
    click.echo(f"views: {result.total_views}   timeframe: {result.timeframe[0]}..{result.timeframe[1]}")
    if not result.total_views:
        return
    click.echo(f"{'time':>8}  {'unique':>7}  {'rewatch':>7}  {'arrivals':>8}  {'departures':>10}")
    n = len(result.unique)
    for i in range(n):
        click.echo(f"{mm_ss(i * result.duration_ms / n):>8}  {result.unique[i]:7.3f}  {result.rewatch[i]:7.3f}  "
                   f"{result.arrivals[i]:8.3f}  {result.departures[i]:10.3f}")


# --- export ------------------------------------------------------------------------------

@click.group()
def export() -> None:
    """Write the heatmap, layers or hotspots (CSV, JSON, Parquet) or the raw views (Parquet) to a file."""


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as error:
        fail(f"cannot write {path}: {error}")


def _table_command(what: str) -> None:
    @export.command(what, help=f"The {what} as a tidy table (one row per "
                               f"{'hotspot' if what == 'hotspots' else 'bucket'}), as the API's export.")
    @query_options
    @click.option("--format", "fmt", type=click.Choice(["csv", "json", "parquet"]), default="csv", show_default=True)
    @click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="File to write (default: the API's file name, in this folder).")
    def command(target: QueryTarget, as_json: bool, fmt: str, output: Path | None) -> None:
        from moments.stats import exports

        table = target.run(lambda store, environment, window, now_ms, settings: exports.compute(
            what, store, environment, target.scope, target.scope_id, window, now_ms, settings.idle_timeout_s,
            target.filters))
        path = output or Path(exports.file_name(target.scope, target.scope_id, table.timeframe, what, fmt))
        _write(path, exports.render(table, fmt))
        summary = {"path": str(path), "rows": table.table.num_rows, **table.context}
        click.echo(json.dumps(summary) if as_json else f"wrote {table.table.num_rows} rows to {path}")


for _what in ("heatmap", "layers", "hotspots"):
    _table_command(_what)


@export.command("views")
@click.option("--env", "environment_id", required=True)
@click.option("--asset", default=None, help="Only this asset's views (at most one of --asset, --video, --playback-id).")
@click.option("--video", default=None)
@click.option("--playback-id", default=None)
@click.option("--timeframe", multiple=True, help="A duration (7:days) or two epoch seconds (repeat the option).")
@click.option("--filter", "filters", multiple=True, metavar="DIM:VALUE", help="Only matching views (Mux syntax).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The Parquet file to write (import format: `moments import` reads it back).")
@click.option("--db", default=None, help="DuckDB file (default: $MOMENTS_DB, else ./moments.duckdb).")
@click.option("--store", "store_url", default=None, help="Store URL (see `moments serve --help`).")
@click.option("--json", "as_json", is_flag=True)
def export_views(environment_id: str, asset: str | None, video: str | None, playback_id: str | None,
                 timeframe: tuple[str, ...], filters: tuple[str, ...], output: Path, db: str | None,
                 store_url: str | None, as_json: bool) -> None:
    """The completed views of a timeframe as Parquet, one row per view."""
    from moments.stats import exports
    from moments.filters import FilterError, parse_filters

    chosen = [(s, v) for s, v in ((Scope.ASSET, asset), (Scope.VIDEO, video), (Scope.PLAYBACK_ID, playback_id)) if v]
    if len(chosen) > 1:
        raise click.UsageError("give at most one of --asset, --video, --playback-id")
    try:
        parsed = parse_filters(list(filters))
    except FilterError as error:
        raise click.BadParameter(str(error), param_hint="--filter") from None
    scope, scope_id = chosen[0] if chosen else (None, None)
    # No scope: every view of the environment (QueryTarget.run reads only the environment and window).
    target = QueryTarget(environment_id, scope, scope_id, timeframe, parsed, db, store_url)

    def write(store, environment, window, now_ms, settings) -> tuple[int, tuple[int, int]]:
        if scope is not None and not store.scope_exists(environment_id, scope, scope_id):
            fail(f"{scope.value} {scope_id!r} not found")
        batches = store.export_views(environment_id, window[0] * 1000, window[1] * 1000, scope, scope_id, parsed)
        try:
            return exports.write_views_parquet(batches, str(output)), window
        except OSError as error:
            fail(f"cannot write {output}: {error}")

    count, window = target.run(write)
    summary = {"path": str(output), "views": count, "timeframe": list(window)}
    click.echo(json.dumps(summary) if as_json else f"wrote {count} views to {output}")
    sys.stdout.flush()
