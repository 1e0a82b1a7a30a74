"""`moments views` (a content's counted views, newest first, paged) and `moments view ID` (one view's path).

Registered on `moments.cli.main` by the package; --json prints the API's shapes.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import click

from moments.cli.common import QueryTarget, fail, mm_ss, open_from, query_options, store_options


def _started(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _after(cursor: str | None) -> tuple[int, str] | None:
    from moments.stats import view_paths

    if cursor is None:
        return None
    try:
        return view_paths.decode_cursor(cursor)
    except view_paths.BadCursor as error:
        raise click.BadParameter(str(error), param_hint="--cursor") from None


@click.command("views")
@query_options
@click.option("--limit", type=click.IntRange(1, 1000), default=25, show_default=True)
@click.option("--cursor", default=None, help="The next_cursor a previous page printed.")
def views_command(target: QueryTarget, as_json: bool, limit: int, cursor: str | None) -> None:
    """The views the heatmap counts, newest first (the API's /views shape with --json)."""
    from moments.stats import view_paths
    from moments.engagement.paths import ending_text, Ending

    after = _after(cursor)
    page = target.run(lambda store, environment, window, now_ms, settings: view_paths.list_views(
        store, environment, target.scope, target.scope_id, window, now_ms, settings.idle_timeout_s, target.filters,
        limit, after))
    body = view_paths.page_json(page)
    if as_json:
        click.echo(json.dumps(body))
        return
    click.echo(f"views: {page.total}   timeframe: {page.timeframe[0]}..{page.timeframe[1]}")
    click.echo(f"{'started (UTC)':<20} {'watched':>8} {'unique':>8} {'seeks':>5}  {'ended':<18} {'country':<7} view")
    for row in body["data"]:
        ended = ending_text(Ending(row["ended"]["kind"], row["ended"]["at_ms"]), mm_ss)
        click.echo(f"{_started(row['view_start']):<20} {mm_ss(row['watched_ms']):>8} "
                   f"{mm_ss(row['unique_watched_ms']):>8} {row['seeks']:>5}  {ended:<18} "
                   f"{row['country'] or '-':<7} {row['view_id']}")
    if page.next_cursor:
        click.echo(f"more: --cursor {page.next_cursor}")


@click.command("view")
@click.argument("view_id")
@click.option("--env", "environment_id", required=True)
@store_options
@click.option("--json", "as_json", is_flag=True)
def view_command(view_id: str, environment_id: str, db, store_url, as_json: bool) -> None:
    """One view's watch path: what it played, in order, its seeks and how it ended."""
    from moments.stats import view_paths
    from moments.engagement.paths import ending_text, step_text

    store = open_from(db, store_url)
    try:
        if store.get_environment(environment_id) is None:
            fail(f"no environment {environment_id!r}")
        view = store.get_view(environment_id, view_id)
    finally:
        store.close()
    if view is None:
        fail(f"view {view_id!r} not found")
    if as_json:
        click.echo(json.dumps(view_paths.view_json(view)))
        return
    path = view_paths.path_of(view)
    content = next((f"{kind} {value}" for kind, value in (("asset", view.asset_id), ("video", view.video_id),
                                                           ("playback ID", view.playback_id)) if value), "-")
    click.echo(f"view {view.view_id}: {content}, started {_started(view.view_start_ms)} UTC, "
               f"content {mm_ss(view.duration_ms)}")
    for step in path.steps:
        click.echo(f"  {step_text(step, mm_ss)}")
    click.echo(f"ended: {ending_text(path.ending, mm_ss)}")
    click.echo(f"watched {mm_ss(path.watched_ms)} ({mm_ss(path.unique_watched_ms)} unique), "
               f"{path.seeks} seek{'' if path.seeks == 1 else 's'}")
