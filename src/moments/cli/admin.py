"""Environments, tokens and assets: `moments env ...`, `moments token ...`, `moments assets ...`."""

from __future__ import annotations

import click

from moments import accounts
from moments.cli.common import emit, fail, open_from, store_options
from moments.ingestion.assets import InvalidAsset, validate_asset
from moments.ingestion.origins import BadPattern, parse_patterns


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


@click.group()
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



@click.group()
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

