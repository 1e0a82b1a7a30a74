"""Environments, tokens and assets: `moments env ...`, `moments token ...`, `moments assets ...`.

All but `env create` also go through a running server's API with --url and a token (a
running DuckDB server holds the file).
"""

from __future__ import annotations

from typing import Callable, TypeVar

import click

from moments import accounts, params
from moments.cli.common import (Remote, emit, environment_option, environment_store, fail, open_existing, open_from,
                                remote_options, store_options)
from moments.ingestion.assets import InvalidAsset, chapters_from_webvtt, validate_asset
from moments.ingestion.imports import loads
from moments.ingestion.origins import BadPattern, parse_patterns
from moments.model import Scope
from moments.stats.catalog import asset_json, list_ids
from moments.store.base import Store
from moments.timetext import mm_ss, utc_time

JSON_HELP = "Print JSON instead of text."
T = TypeVar("T")


def _fields(value: dict) -> str:
    return "\n".join(_chapter_lines(v) if k == "chapters" else f"{k}: {v}" for k, v in value.items())


def _chapter_lines(chapters: list[dict]) -> str:
    """An asset's chapters, a line each: where it starts (and ends, when given) and its title."""
    def line(chapter: dict) -> str:
        end = "" if chapter["endTime"] is None else f"-{mm_ss(chapter['endTime'] * 1000)}"
        return f"  {mm_ss(chapter['startTime'] * 1000) + end:<17} {chapter['value']}"

    return "\n".join([f"chapters: {len(chapters)}", *map(line, chapters)])


@click.group()
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
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def env_create(name: str, db, store_url, retention_days: int, rate_limit: float, burst: int,
               allowed_origins: tuple[str, ...], as_json: bool) -> None:
    """Create environment NAME with a read+write token (the store is created if it does not exist)."""
    patterns = _patterns(list(allowed_origins), "--allowed-origin")
    store = open_from(db, store_url)
    environment, issued = accounts.create_environment(store, name, retention_days, rate_limit, burst,
                                                      allowed_origins=patterns)
    store.close()
    value = {**accounts.environment_fields(environment), "token_id": issued.token.token_id,
             "token_secret": issued.secret, "permissions": list(issued.token.permissions)}
    emit(value, as_json, _fields(value))


@env.command("list")
@remote_options
@store_options
@click.option("--json", "as_json", is_flag=True, help='Print {"data": [environment, ...]}.')
def env_list(db, store_url, remote: Remote | None, as_json: bool) -> None:
    """The store's environments, oldest first: id, name, env key, retention (with --url: the
    token's environment)."""
    if remote is not None:
        environments = [remote.ask(lambda client: client.environment())["data"]]
    else:
        store = open_existing(db, store_url, over_http=True)
        try:
            environments = [accounts.environment_fields(e) for e in store.environments()]
        finally:
            store.close()
    lines = [f"{'environment_id':<14} {'env_key':<26} {'retention':>9}  name"]
    lines += [f"{e['environment_id']:<14} {e['env_key']:<26} {e['retention_days']:>5} days  {e['name']}"
              for e in environments]
    emit({"data": environments}, as_json, "\n".join(lines) if environments else "no environments")


@env.command("origins")
@click.argument("environment_id")
@click.argument("patterns", nargs=-1)
@remote_options
@store_options
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def env_origins(environment_id: str, patterns: tuple[str, ...], db, store_url, remote: Remote | None,
                as_json: bool) -> None:
    """Set the sites ENVIRONMENT_ID takes beacons from, checked against each beacon request's
    Origin (or Referer): origins (https://example.com), hosts (example.com, any scheme and
    port), subdomains (*.example.com) and "none" (requests with neither header: native
    players). No PATTERNS: beacons from anywhere. With --url (an admin token of the
    environment) the server applies it at once (PATCH /v1/environment); in the store, a
    running server applies it within a few seconds."""
    parsed = _patterns(list(patterns), "PATTERNS")
    if remote is not None:
        remote.check_environment(environment_id)
        value = remote.ask(lambda client: client.set_allowed_origins(parsed))["data"]
    else:
        with environment_store(db, store_url, environment_id) as store:
            store.set_allowed_origins(environment_id, parsed)
            value = accounts.environment_fields(store.get_environment(environment_id))
    emit(value, as_json, _fields(value))


def _patterns(texts: list[str], hint: str) -> tuple[str, ...]:
    try:
        return parse_patterns(texts)
    except BadPattern as error:
        raise click.BadParameter(str(error), param_hint=hint) from None


@click.group()
def token() -> None:
    """Access tokens for the API: in the store, or with --url and an admin token through a
    running server's API (GET/POST /v1/tokens)."""


@token.command("create")
@click.option("--permissions", default="read", show_default=True, help="Comma separated: read,write,admin")
@environment_option
@store_options
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def token_create(environment_id: str | None, permissions: str, db, store_url, remote: Remote | None,
                 as_json: bool) -> None:
    """Create an access token in an environment (its secret is shown once, here)."""
    try:
        wanted = accounts.parse_permissions(permissions)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--permissions") from None
    if remote is not None:
        remote.check_environment(environment_id)
        value = remote.ask(lambda client: client.create_token(wanted))["data"]
    else:
        value = accounts.issued_fields(_in_store(db, store_url, lambda store: accounts.issue_token(
            store, environment_id, wanted)))
    emit(value, as_json, _fields(value))


@token.command("list")
@environment_option
@store_options
@click.option("--json", "as_json", is_flag=True,
              help='Print {"data": [{"token_id", "environment_id", "permissions", "created_at" (epoch ms)}]}.')
def token_list(environment_id: str | None, db, store_url, remote: Remote | None, as_json: bool) -> None:
    """The environment's tokens, oldest first: id, permissions, when created (never a secret)."""
    if remote is not None:
        remote.check_environment(environment_id)
        body = remote.ask(lambda client: client.list_tokens())
    else:
        with environment_store(db, store_url, environment_id) as store:
            body = {"data": [accounts.token_fields(t, created) for t, created in store.tokens(environment_id)]}
    lines = [f"{'token_id':<36}  {'permissions':<16}  created (UTC)"]
    lines += [f"{t['token_id']:<36}  {','.join(t['permissions']):<16}  {utc_time(t['created_at'] / 1000)}"
              for t in body["data"]]
    emit(body, as_json, "\n".join(lines) if body["data"] else "no tokens")


@token.command("revoke")
@click.argument("token_id")
@remote_options
@store_options
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def token_revoke(token_id: str, db, store_url, remote: Remote | None, as_json: bool) -> None:
    """Delete TOKEN_ID: the API answers requests signed with it 401 from then on (a server on
    a shared ClickHouse database within 5 seconds)."""
    if remote is not None:
        value = remote.ask(lambda client: client.revoke_token(token_id), f"no token {token_id!r}")["data"]
    else:
        revoked = _in_store(db, store_url, lambda store: accounts.revoke_token(store, token_id))
        value = {"token_id": revoked.token_id, "environment_id": revoked.environment_id, "revoked": True}
    emit(value, as_json, f"revoked token {value['token_id']} of environment {value['environment_id']}")


@token.command("rotate")
@click.argument("token_id")
@remote_options
@store_options
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def token_rotate(token_id: str, db, store_url, remote: Remote | None, as_json: bool) -> None:
    """Give TOKEN_ID a new secret, shown once: same id, environment and permissions; the old
    secret stops working at once (revoke + create instead gives a new id)."""
    if remote is not None:
        value = remote.ask(lambda client: client.rotate_token(token_id), f"no token {token_id!r}")["data"]
    else:
        value = accounts.issued_fields(_in_store(db, store_url, lambda store: accounts.rotate_token(store, token_id)))
    emit(value, as_json, _fields(value))


def _in_store(db: str | None, store_url: str | None, change: Callable[[Store], T]) -> T:
    """`change(store)` on the existing store, closed after; an unknown environment or token
    (LookupError) becomes the command's error."""
    store = open_existing(db, store_url, over_http=True)
    try:
        return change(store)
    except LookupError as error:
        fail(str(error))
    finally:
        store.close()


@click.group()
def assets() -> None:
    """Assets: their duration, playback IDs and playable URL (in the store, or with --url
    through a running server's API)."""


@assets.command("put")
@click.argument("asset_id")
@click.option("--duration-ms", required=True, type=int, help="The content's length in ms.")
@click.option("--playback-id", "playback_ids", multiple=True, help="Repeat for several.")
@click.option("--playback-url", default=None, help="An http(s) URL the dashboard plays (mp4 or HLS .m3u8).")
@click.option("--chapters", "chapters_file", type=click.File(encoding="utf-8-sig"), default=None,
              help="A WebVTT chapters file (.vtt), or a JSON array in Mux Player's addChapters shape "
                   '([{"startTime": 0, "endTime": 30, "value": "Intro"}], seconds); "-" reads standard input.')
@environment_option
@store_options
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def assets_put(asset_id: str, environment_id: str | None, duration_ms: int, playback_ids: tuple[str, ...],
               playback_url: str | None, chapters_file, db, store_url, remote: Remote | None, as_json: bool) -> None:
    """Register or replace ASSET_ID (and its chapters: left out, it has none)."""
    body = {"duration_ms": duration_ms, "playback_ids": list(playback_ids), "playback_url": playback_url,
            "chapters": _read_chapters(chapters_file) if chapters_file else []}
    try:
        asset = validate_asset(params.scope_id("asset id", asset_id), body)  # the HTTP path's id rules
    except InvalidAsset as error:
        fail("; ".join(error.messages))
    except params.ParamError as error:
        fail(str(error))
    if remote is not None:
        remote.check_environment(environment_id)
        value = remote.ask(lambda client: client.put_asset(asset.asset_id, asset.duration_ms, asset.playback_ids,
                                                           asset.playback_url, body["chapters"]))["data"]
    else:
        with environment_store(db, store_url, environment_id) as store:
            store.put_asset(environment_id, asset)
            value = asset_json(store.get_asset(environment_id, asset.asset_id))["data"]
    emit(value, as_json, _fields(value))


def _read_chapters(file) -> list:
    """The chapters of a WebVTT file, or of a JSON array (a file that does not start with WEBVTT)."""
    text = file.read()
    try:
        if text.lstrip().startswith("WEBVTT"):
            return chapters_from_webvtt(text)
        chapters = loads(text)
    except ValueError as error:
        fail(f"--chapters {file.name}: {error}")
    if not isinstance(chapters, list):
        fail(f"--chapters {file.name}: expected a WebVTT file or a JSON array of chapters")
    return chapters


@assets.command("get")
@click.argument("asset_id")
@environment_option
@store_options
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def assets_get(asset_id: str, environment_id: str | None, db, store_url, remote: Remote | None, as_json: bool) -> None:
    """ASSET_ID's registration: duration, playback IDs, playback URL (as `assets put` printed it)."""
    if remote is not None:
        remote.check_environment(environment_id)
        value = remote.ask(lambda client: client.get_asset(asset_id), f"asset {asset_id!r} not found")["data"]
    else:
        with environment_store(db, store_url, environment_id) as store:
            asset = store.get_asset(environment_id, asset_id)
        if asset is None:
            fail(f"asset {asset_id!r} not found")
        value = asset_json(asset)["data"]
    emit(value, as_json, _fields(value))


@assets.command("list")
@click.option("--search", default=None, help="Only ids containing this (case-insensitive).")
@click.option("--limit", type=click.IntRange(1, 100), default=25, show_default=True)
@environment_option
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print the API's response body (GET /v1/assets).")
def assets_list(search: str | None, limit: int, environment_id: str | None, db, store_url, remote: Remote | None,
                as_json: bool) -> None:
    """The environment's asset IDs (registered, or seen on views) with their view counts, most viewed first."""
    if remote is not None:
        remote.check_environment(environment_id)
        body = remote.ask(lambda client: client.list_ids("assets", search, limit))
    else:
        with environment_store(db, store_url, environment_id) as store:
            body = list_ids(store, environment_id, Scope.ASSET, search or None, limit)
    # Registered: `assets put` gave its duration; otherwise the id is only seen on views.
    lines = [f"{'views':>8}  {'registered':<10}  asset"]
    lines += [f"{row['views']:>8}  {'yes' if row.get('registered') else 'no':<10}  {row['id']}" for row in body["data"]]
    matching = f" matching {search!r}" if search else ""
    lines.append(f"{len(body['data'])} of {body['total_row_count']} assets{matching}")
    emit(body, as_json, "\n".join(lines))
