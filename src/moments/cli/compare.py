"""`moments relative` (against similar content) and `moments compare` (two timeframes or two ids).

Registered on `moments.cli.main` by the package; --json prints the API's shapes.
"""

from __future__ import annotations

import json

import click

from moments import params
from moments.cli.common import QueryTarget, fail, query_options, usage_errors, views_line
from moments.config import Settings
from moments.timetext import mm_ss, timeframe_text


def overall_words(overall: dict | None, peers: int, kinds: str) -> str:
    """The overall figures in words (the dashboard says the same)."""
    if overall is None:
        return ""
    parts = []
    if overall["ratio"] is not None:
        change = round((overall["ratio"] - 1) * 100)
        parts.append(f"retains {abs(change)}% {'more' if change >= 0 else 'less'} than similar content"
                     if change else "retains as much as similar content")
    parts.append(f"better than {round(overall['better_than'] * 100)}% of the {peers} similar {kinds}")
    return "; ".join(parts)


@click.command("relative")
@query_options
def relative_command(target: QueryTarget, as_json: bool) -> None:
    """The curve against the typical curve of similar-length content (the API's /relative shape with --json)."""
    from moments.stats import comparison

    def local(store, query) -> dict:
        return comparison.relative_json(comparison.relative(store, query))

    body = target.answer(local, lambda client: client.relative(target.kind, target.scope_id, target.timeframe,
                                                              target.filter_texts))
    if as_json:
        click.echo(json.dumps(body))
        return
    data = body["data"]
    band = data["band"]
    click.echo(f"{views_line(body)}   peers: {data['peers']}"
               + (f" of {mm_ss(band['min_ms'])}..{mm_ss(band['max_ms'])}" if band else ""))
    click.echo(data["note"] or overall_words(data["overall"], data["peers"], comparison.KIND_NAMES[target.scope]))
    if not data["typical"]:
        return
    click.echo(relative_verdict_words(data))
    n = len(data["value"])
    real = data["significant"] or [False] * n
    click.echo(f"{'time':>8}  {'this':>6}  {'typical':>7}  {'diff':>6}  (* beyond chance)")
    for i, (value, typical, diff) in enumerate(zip(data["value"], data["typical"], data["relative"])):
        click.echo(f"{mm_ss(i * data['duration_ms'] / n):>8}  {value:6.3f}  {typical:7.3f}  {diff:+6.3f}"
                   f"{'  *' if real[i] else ''}")


def relative_verdict_words(data: dict) -> str:
    """Whether this content differs from the typical one beyond chance, in words."""
    if data["verdict_note"]:
        return data["verdict_note"]
    if not data["average_significant"]:
        overall = f"on average within chance of similar content (p = {data['average_p_value']:.2f})"
    else:
        overall = f"on average beyond chance (p = {data['average_p_value']:.2g})"
    return f"{overall}; {sum(data['significant'])} of {len(data['significant'])} moments differ beyond chance"


@click.command("compare")
@query_options
@click.option("--against-timeframe", multiple=True,
              help="The other side's timeframe: a duration or two epoch seconds (repeat the option).")
@click.option("--against", default=None, help="The other side's id, of the same kind (playback IDs: of the same asset).")
def compare_command(target: QueryTarget, as_json: bool, against_timeframe: tuple[str, ...], against: str | None) -> None:
    """Two timeframes, or two ids, side by side on one grid (the API's /compare shape with --json)."""
    if not against_timeframe and against is None:
        raise click.UsageError("give --against-timeframe (the same id over another timeframe) or --against (another id)")

    def local(store, query) -> dict:
        from moments import stats
        from moments.stats import comparison

        b_values = against_timeframe or target.timeframe
        with usage_errors():
            b_window = params.window(b_values, query.environment, query.now_s, Settings().default_timeframe_s,
                                     "against_timeframe[]")
        a = comparison.SideSpec(query, target.timeframe)
        b = comparison.SideSpec(query.about(against or target.scope_id, b_window), b_values)
        try:
            return comparison.compare_json(comparison.compare(store, a, b))
        except comparison.NotComparable as error:
            fail(str(error))
        except stats.UnknownScopeId as error:
            fail(f"{target.scope.value} {str(error)!r} not found")

    body = target.answer(local, lambda client: client.compare(target.kind, target.scope_id, target.timeframe,
                                                             against_timeframe, against, target.filter_texts),
                         f"{target.scope.value} {target.scope_id!r} or {against!r} not found" if against else None)
    if as_json:
        click.echo(json.dumps(body))
        return
    data = body["data"]
    a, b = data["a"], data["b"]
    for name, side in (("a", a), ("b", b)):
        click.echo(f"{name}: {side['id']}   views: {side['total_views']}   "
                   f"timeframe: {timeframe_text(side['timeframe'])}")
    if not data["difference"]:
        click.echo("nothing to compare: a side has no views")
        return
    click.echo(verdict_words(data))
    n = len(a["value"])
    real = data["significant"] or [False] * n
    click.echo(f"{'time':>8}  {'a':>6}  {'b':>6}  {'b - a':>6}  (* beyond chance)")
    for i, (va, vb, diff) in enumerate(zip(a["value"], b["value"], data["difference"])):
        click.echo(f"{mm_ss(i * data['duration_ms'] / n):>8}  {va:6.3f}  {vb:6.3f}  {diff:+6.3f}{'  *' if real[i] else ''}")


def verdict_words(data: dict) -> str:
    """Whether the difference is real, in words (docs/engagement.md, "Is the difference real?")."""
    if data["verdict_note"]:
        return data["verdict_note"]
    change = f"b watches {abs(data['average_difference']) * 100:.1f} points of the content " \
             f"{'more' if data['average_difference'] >= 0 else 'less'} on average"
    if not data["average_significant"]:
        return f"{change}: within chance (p = {data['average_p_value']:.2f})"
    buckets = sum(data["significant"])
    return f"{change}: beyond chance (p = {data['average_p_value']:.2g}); {buckets} of {len(data['significant'])} moments differ"
