"""`moments layers`, `moments export ...` and the heatmap's pictures (`heatmap --plot/--png`).

Registered on `moments.cli.main` by the package.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from moments.cli.common import (REMOTE_ENV_HELP, QueryTarget, checked_filters, fail, query_options, remote_options,
                                store_options, views_line)
from moments.model import Scope
from moments.timetext import mm_ss, span, timeframe_text

if TYPE_CHECKING:
    from moments.client import Download

# GET /v1/exports/views.parquet's parameter for each scope.
VIEW_ID_PARAMS = {Scope.ASSET: "asset_id", Scope.VIDEO: "video_id", Scope.PLAYBACK_ID: "playback_id"}


# --- heatmap --plot / --png --------------------------------------------------------------

def _hotspots(body: dict | None) -> list:
    from moments.engagement.hotspots import Hotspot

    return [] if body is None else [Hotspot(h["start_ms"], h["end_ms"], h["score"]) for h in body["data"]["hotspots"]]


def heatmap_plot(heatmap: dict, hotspots: dict | None) -> str:
    """The terminal picture of a heatmap body and its hotspots body, as wide as the terminal
    ($COLUMNS when not a tty)."""
    from moments.cli.plots import terminal_plot

    data = heatmap["data"]
    if not data["total_views"]:
        return f"{views_line(heatmap)}\nno views in this timeframe"
    columns = shutil.get_terminal_size((80, 24)).columns
    return f"{views_line(heatmap)}\n{terminal_plot(data['value'], data['duration_ms'], _hotspots(hotspots), columns)}"


def heatmap_png(heatmap: dict, hotspots: dict | None, target: QueryTarget, path: Path) -> str:
    """Write the picture; one line saying what it shows."""
    from moments.cli.plots import PlotUnavailable, labelled, write_png

    data = heatmap["data"]
    if not data["total_views"]:
        fail("no views in this timeframe: nothing to draw")
    spots = _hotspots(hotspots)
    what = f"{target.scope.value.replace('_', ' ')} {target.scope_id}"
    title = f"{what}: {data['total_views']} views, {timeframe_text(heatmap['timeframe'])}"
    try:
        write_png(path, data["value"], data["duration_ms"], spots, title)
    except PlotUnavailable as error:
        fail(str(error))
    except OSError as error:
        fail(f"cannot write {path}: {error}")
    kinds = [spot.kind for spot in labelled(spots)]
    peaks, colds = kinds.count("peak"), kinds.count("cold")
    start, end = heatmap["timeframe"]
    return (f"wrote {path}: {what}, {data['total_views']} views over {span(end - start)}, "
            f"{peaks} peak{'' if peaks == 1 else 's'} and {colds} cold spot{'' if colds == 1 else 's'}")


# --- layers ------------------------------------------------------------------------------

@click.command()
@query_options
def layers(target: QueryTarget, as_json: bool) -> None:
    """The heatmap beside its rewatch, arrival and departure layers, per bucket."""
    def local(store, query) -> dict:
        from moments import stats

        return stats.layers_json(stats.layers(store, query))

    body = target.answer(local, lambda client: client.layers(target.kind, target.scope_id, target.timeframe,
                                                            target.filter_texts))
    if as_json:
        click.echo(json.dumps(body))
        return
    data = body["data"]
    click.echo(views_line(body))
    if not data["total_views"]:
        return
    click.echo(f"{'time':>8}  {'unique':>7}  {'rewatch':>7}  {'arrivals':>8}  {'departures':>10}")
    n = len(data["unique"])
    for i in range(n):
        click.echo(f"{mm_ss(i * data['duration_ms'] / n):>8}  {data['unique'][i]:7.3f}  {data['rewatch'][i]:7.3f}  "
                   f"{data['arrivals'][i]:8.3f}  {data['departures'][i]:10.3f}")


# --- export ------------------------------------------------------------------------------

@click.group()
def export() -> None:
    """Write the heatmap, layers, hotspots, summary or chapters (CSV, JSON, Parquet) or the raw views (Parquet) to a file."""


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as error:
        fail(f"cannot write {path}: {error}")


ROWS = {"heatmap": "one row per bucket", "layers": "one row per bucket", "hotspots": "one row per hotspot",
        "summary": "one row of every figure", "chapters": "one row per chapter"}


def _table_command(what: str) -> None:
    @export.command(what, help=f"The {what} as a tidy table ({ROWS[what]}), as the API's export.")
    @query_options
    @click.option("--format", "fmt", type=click.Choice(["csv", "json", "parquet"]), default="csv", show_default=True)
    @click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="File to write (default: the API's file name, in this folder).")
    def command(target: QueryTarget, as_json: bool, fmt: str, output: Path | None) -> None:
        def local(store, query) -> tuple[bytes, str, int, dict]:
            from moments.stats import exports

            table = exports.compute(what, store, query)
            name = exports.file_name(target.scope, target.scope_id, table.timeframe, what, fmt)
            return exports.render(table, fmt), name, table.table.num_rows, table.context

        def remote(client) -> tuple[bytes, str, int, dict]:
            # The JSON export carries the rows' context; the file itself is asked for over the same window.
            described = json.loads(client.export(target.kind, target.scope_id, what, "json", target.timeframe,
                                                 target.filter_texts).content)
            window = [str(t) for t in described["timeframe"]]
            file: Download = client.export(target.kind, target.scope_id, what, fmt, window, target.filter_texts)
            context = {key: described[key] for key in ("what", "timeframe", "total_views", "duration_ms")}
            return file.content, file.file_name, len(described["data"]), context

        content, name, rows, context = target.answer(local, remote)
        path = output or Path(name)
        _write(path, content)
        summary = {"path": str(path), "rows": rows, **context}
        click.echo(json.dumps(summary) if as_json else f"wrote {rows} row{'' if rows == 1 else 's'} to {path}")


for _what in ROWS:
    _table_command(_what)


@export.command("views")
@click.option("--asset", default=None, help="Only this asset's views (at most one of --asset, --video, --playback-id).")
@click.option("--video", default=None, help="Only this video ID's views.")
@click.option("--playback-id", default=None, help="Only this playback ID's views.")
@click.option("--timeframe", multiple=True,
              help="A duration (7:days) or two epoch seconds (repeat the option). Default: 7 days.")
@click.option("--filter", "filters", multiple=True, metavar="DIM:VALUE", help="Only matching views (Mux syntax).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The Parquet file to write (import format: `moments import` reads it back).")
@store_options
@remote_options
@click.option("--env", "environment_id", default=None, help=REMOTE_ENV_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def export_views(environment_id: str | None, asset: str | None, video: str | None, playback_id: str | None,
                 timeframe: tuple[str, ...], filters: tuple[str, ...], output: Path, db: str | None,
                 store_url: str | None, remote, as_json: bool) -> None:
    """The completed views of a timeframe as Parquet, one row per view."""
    chosen = [(s, v) for s, v in ((Scope.ASSET, asset), (Scope.VIDEO, video), (Scope.PLAYBACK_ID, playback_id)) if v]
    if len(chosen) > 1:
        raise click.UsageError("give at most one of --asset, --video, --playback-id")
    if remote is None and environment_id is None:
        raise click.UsageError("Missing option '--env' (the environment ID; `moments env list` shows them).")
    scope, scope_id = chosen[0] if chosen else (None, None)
    # No scope: every view of the environment (QueryTarget.run reads only the environment and window).
    target = QueryTarget(environment_id, scope, scope_id, timeframe, checked_filters(filters), filters, db, store_url,
                         remote)

    def local(store, query) -> tuple[int, tuple[int, int]]:
        from moments.stats import exports

        environment_id, (start_s, end_s) = query.environment.environment_id, query.window_s
        if scope is not None and not store.scope_exists(environment_id, scope, scope_id):
            fail(target.not_found)
        batches = store.export_views(environment_id, start_s * 1000, end_s * 1000, scope, scope_id, query.filters)
        try:
            return exports.write_views_parquet(batches, str(output)), query.window_s
        except OSError as error:
            fail(f"cannot write {output}: {error}")

    def remote_write(client) -> tuple[int, tuple[int, int]]:
        import pyarrow.parquet as pq

        file: Download = client.export_views(timeframe, filters, **({VIEW_ID_PARAMS[scope]: scope_id} if scope else {}))
        # The server names the file after the effective window: moments_views_START-END.parquet.
        window = re.fullmatch(r"moments_views_(\d+)-(\d+)\.parquet", file.file_name or "")
        if window is None:
            fail(f"{remote.url} did not answer with a views export (file name {file.file_name!r})")
        _write(output, file.content)
        return pq.read_metadata(output).num_rows, (int(window[1]), int(window[2]))

    count, window = target.answer(local, remote_write)
    summary = {"path": str(output), "views": count, "timeframe": list(window)}
    click.echo(json.dumps(summary) if as_json else f"wrote {count} views to {output}: {timeframe_text(window)}")
    sys.stdout.flush()
