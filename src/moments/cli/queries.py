"""`moments heatmap`, `hotspots`, `summary` and `chapters`: the engagement endpoints' answers in the terminal."""

from __future__ import annotations

import json
from pathlib import Path

import click

from moments.cli.common import SCORE_KEY, QueryTarget, engagement_bodies, query_options, views_line
from moments.timetext import mm_ss, timeframe_text


@click.command()
@query_options
@click.option("--plot", is_flag=True, help="Draw the curve and the hotspots in the terminal.")
@click.option("--png", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the curve and the hotspots as a PNG picture (needs the `plot` extra) and print "
                   "one line about it (the table or --plot picture only when asked for with --plot/--json).")
def heatmap(target: QueryTarget, as_json: bool, plot: bool, png: Path | None) -> None:
    """The engagement heatmap (Mux response shape with --json)."""
    from moments.cli.exports import heatmap_plot, heatmap_png

    body, hotspots = engagement_bodies(target, plot or png is not None)  # pictures mark the hotspots
    if png is not None:
        written = heatmap_png(body, hotspots, target, png)
        if not (as_json or plot):
            click.echo(written)
            return
    if as_json:
        click.echo(json.dumps(body))
    elif plot:
        click.echo(heatmap_plot(body, hotspots))
    else:
        click.echo(views_line(body))
        values, duration_ms = body["data"]["value"], body["data"]["duration_ms"]
        for i, value in enumerate(values):
            click.echo(f"{mm_ss(i * duration_ms / len(values)):>8}  {value:6.3f}  {'#' * round(value * 50)}")


@click.command()
@query_options
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many (total_row_count counts all).")
@click.option("--order-direction", type=click.Choice(["desc", "asc"]), default="desc", show_default=True,
              help="desc: strongest peaks first; asc: deepest cold spots first.")
def hotspots(target: QueryTarget, as_json: bool, limit: int | None, order_direction: str) -> None:
    """Hotspots (peaks) and cold spots (Mux response shape with --json)."""
    from moments.stats.exports import hotspot_kind

    def local(store, query) -> dict:
        from moments import stats

        return stats.hotspots_json(stats.engagement(store, query, with_hotspots=True), limit, order_direction)

    body = target.answer(local, lambda client: client.hotspots(target.kind, target.scope_id, target.timeframe, limit,
                                                              order_direction, target.filter_texts))
    if as_json:
        click.echo(json.dumps(body))
        return
    click.echo(f"views: {body['data']['total_views']}   hotspots: {body['total_row_count']}   "
               f"timeframe: {timeframe_text(body['timeframe'])}")
    if body["data"]["hotspots"]:
        click.echo(SCORE_KEY)
    for h in body["data"]["hotspots"]:
        click.echo(f"{mm_ss(h['start_ms']):>8} - {mm_ss(h['end_ms']):<8} {hotspot_kind(h['score'])}  "
                   f"score {h['score']:.3f}")


@click.command("summary")
@query_options
@click.option("--per-view", is_flag=True, help="Also the figures that read every counted view: median view, "
                                               "rewatch rate, seek rate (the cost of `moments layers`).")
def summary_command(target: QueryTarget, as_json: bool, per_view: bool) -> None:
    """Views, average viewed, completion rate, intro retention (the API's /summary shape with --json)."""
    def local(store, query) -> dict:
        from moments.stats.summary import summary, summary_json

        return summary_json(summary(store, query, per_view))

    body = target.answer(local, lambda client: client.summary(target.kind, target.scope_id, target.timeframe,
                                                             target.filter_texts, per_view))
    if as_json:
        click.echo(json.dumps(body))
        return
    click.echo(views_line(body) + "   (95% intervals in brackets)")
    for label, key, shown in SUMMARY_LINES:
        value, interval = body["data"][key], body["data"]["intervals"][key]
        if value is not None or (per_view and key in PER_VIEW):
            sure = f"  [{shown(interval[0])} .. {shown(interval[1])}]" if interval else ""
            click.echo(f"{label:<26}{'-' if value is None else shown(value)}{sure}")


def _percent(share: float) -> str:
    return f"{share * 100:.1f}%"


PER_VIEW = {"median_view_ms", "rewatch_rate", "seek_rate"}
SUMMARY_LINES = (  # docs/engagement.md, "Summary figures"
    ("average viewed", "average_viewed", _percent),
    ("average view", "average_view_ms", mm_ss),
    ("completion rate", "completion_rate", _percent),
    ("still watching at 10%", "retention_at_10_percent", _percent),
    ("still watching at 0:30", "retention_at_30_s", _percent),
    ("median view", "median_view_ms", mm_ss),
    ("rewatch rate", "rewatch_rate", _percent),
    ("seeks per view", "seek_rate", lambda rate: f"{rate:.2f}"),
)


@click.command("chapters")
@query_options
def chapters_command(target: QueryTarget, as_json: bool) -> None:
    """Each chapter of the content's asset: the share of views that reached it and finished it,
    how much of it they watched, where in it those who left it left (the API's /chapters shape,
    with the 95% intervals and the leaves by tenth, with --json)."""
    def local(store, query) -> dict:
        from moments.stats.chapters import chapters, chapters_json

        return chapters_json(chapters(store, query))

    body = target.answer(local, lambda client: client.chapters(target.kind, target.scope_id, target.timeframe,
                                                              target.filter_texts))
    if as_json:
        click.echo(json.dumps(body))
        return
    data = body["data"]
    if data["note"]:
        click.echo(f"{views_line(body)}\nno chapters: {data['note']}")
        return
    click.echo(f"{views_line(body)}   chapters of asset {data['asset_id']}   (95% intervals in brackets)")
    click.echo(f"{'chapter':<15} {'reached':<22} {'finished':<22} {'watched':>8} {'left at':>8}  title")
    for row in data["chapters"]:
        span = f"{mm_ss(row['start_ms'])}-{mm_ss(row['end_ms'])}"
        left = "-" if row["leave_median_ms"] is None else mm_ss(row["start_ms"] + row["leave_median_ms"])
        click.echo(f"{span:<15} {_share(row, 'reached'):<22} {_share(row, 'finished'):<22} "
                   f"{_optional(row['average_watched']):>8} {left:>8}  {row['title']}")
    click.echo("watched: the share of a chapter its viewers watched; left at: the median moment of those who left it "
               "before its end")


def _share(row: dict, name: str) -> str:
    interval = row["intervals"][name]
    if row[name] is None:
        return "-"
    return f"{_percent(row[name])} [{_percent(interval[0])}..{_percent(interval[1])}]"


def _optional(share: float | None) -> str:
    return "-" if share is None else _percent(share)
