"""`moments views` (a content's counted views, newest first, paged) and `moments view ID` (one view's path).

Registered on `moments.cli.main` by the package; --json prints the API's shapes.
"""

from __future__ import annotations

import json

import click

from moments import params
from moments.cli.common import (QueryTarget, environment_option, environment_store, fail, query_options, store_options,
                                usage_errors)
from moments.timetext import mm_ss, timeframe_text, utc_time


def _ending(ended: dict) -> str:
    from moments.engagement.paths import Ending, ending_text

    return ending_text(Ending(ended["kind"], ended["at_ms"]), mm_ss)


@click.command("views")
@query_options
@click.option("--limit", type=click.IntRange(1, 1000), default=25, show_default=True)
@click.option("--cursor", default=None, help="The next_cursor a previous page printed.")
def views_command(target: QueryTarget, as_json: bool, limit: int, cursor: str | None) -> None:
    """The views the heatmap counts, newest first (the API's /views shape with --json)."""
    def local(store, query) -> dict:
        from moments.stats import view_paths

        return view_paths.page_json(view_paths.list_views(store, query, limit, after))

    with usage_errors():  # a malformed cursor is a usage error before anything is asked
        after = params.cursor(cursor)
    body = target.answer(local, lambda client: client.list_views(target.kind, target.scope_id, target.timeframe,
                                                                target.filter_texts, limit, cursor))
    if as_json:
        click.echo(json.dumps(body))
        return
    click.echo(f"views: {body['total_row_count']}   timeframe: {timeframe_text(body['timeframe'])}")
    click.echo(f"{'started (UTC)':<20} {'watched':>8} {'unique':>8} {'seeks':>5}  {'ended':<18} {'country':<7} view")
    for row in body["data"]:
        click.echo(f"{utc_time(row['view_start'] / 1000):<20} {mm_ss(row['watched_ms']):>8} "
                   f"{mm_ss(row['unique_watched_ms']):>8} {row['seeks']:>5}  {_ending(row['ended']):<18} "
                   f"{row['country'] or '-':<7} {row['view_id']}")
    if body["next_cursor"]:
        click.echo(f"more: --cursor {body['next_cursor']}")


@click.command("view")
@click.argument("view_id")
@environment_option
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print the API's response body.")
def view_command(view_id: str, environment_id: str | None, db, store_url, remote, as_json: bool) -> None:
    """One view's watch path: what it played, in order, its seeks and how it ended."""
    from moments.engagement.paths import Play, Seek, step_text

    if remote is not None:
        remote.check_environment(environment_id)
        body = remote.ask(lambda client: client.get_view(view_id), f"view {view_id!r} not found")
    else:
        body = _stored_view(view_id, environment_id, db, store_url)
    if as_json:
        click.echo(json.dumps(body))
        return
    view = body["data"]
    content = next((f"{kind} {view[key]}" for kind, key in (("asset", "asset_id"), ("video", "video_id"),
                                                             ("playback ID", "playback_id")) if view[key]), "-")
    click.echo(f"view {view['view_id']}: {content}, started {utc_time(view['view_start'] / 1000)} UTC, "
               f"content {mm_ss(view['duration_ms'])}")
    for step in view["path"]:
        played = step["type"] == "play"
        shown = Play(step["start_ms"], step["end_ms"]) if played else Seek(step["from_ms"], step["to_ms"])
        click.echo(f"  {step_text(shown, mm_ss)}")
    click.echo(f"ended: {_ending(view['ended'])}")
    click.echo(f"watched {mm_ss(view['watched_ms'])} ({mm_ss(view['unique_watched_ms'])} unique), "
               f"{view['seeks']} seek{'' if view['seeks'] == 1 else 's'}")


def _stored_view(view_id: str, environment_id: str, db: str | None, store_url: str | None) -> dict:
    from moments.stats import view_paths

    with environment_store(db, store_url, environment_id) as store:
        view = store.get_view(environment_id, view_id)
    if view is None:
        fail(f"view {view_id!r} not found")
    return view_paths.view_json(view)
