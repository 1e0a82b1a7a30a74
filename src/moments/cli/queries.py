"""`moments heatmap` and `moments hotspots`: the Mux endpoints' answers in the terminal."""

from __future__ import annotations

import json
from pathlib import Path

import click

from moments.cli.common import QueryTarget, mm_ss, query_options, run_query


@click.command()
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


@click.command()
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

