"""What the commands share: where answers come from (the store, or a running server over
HTTP), output, human times, and a query's target.

A query command renders the API's JSON bodies: locally it computes them in process (the
stats.*_json functions the API itself calls), with --url it fetches them, so both print the same.
"""

from __future__ import annotations

import functools
import json
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, NoReturn, TypeVar

import click

from moments import params
from moments.config import Settings, default_db_path
from moments.filters import Filters
from moments.model import Scope
from moments.params import ParamError
from moments.stats.query import EngagementQuery
from moments.store import open_store
from moments.store.base import Store
from moments.timetext import timeframe_text

if TYPE_CHECKING:  # httpx and the client load only when a command goes over HTTP
    from moments.client import BodyClient

T = TypeVar("T")

ENV_HELP = "The environment ID (`moments env list` shows them)."
REMOTE_ENV_HELP = ENV_HELP + " With --url: optional, the token's own; checked when given."
KINDS = {Scope.ASSET: "assets", Scope.VIDEO: "videos", Scope.PLAYBACK_ID: "playback-ids"}  # the API's path words
# A second DuckDB process on a file gets "Could not set lock on file ... Conflicting lock is held in PROGRAM (PID N)".
_LOCKED = re.compile(r"Could not set lock|Conflicting lock", re.IGNORECASE)
_LOCK_PID = re.compile(r"\(PID (\d+)\)")


def store_options(command):
    command = click.option("--store", "store_url", default=None,
                           help="Store URL: duckdb:///path, chdb:///dir (ClickHouse in-process) or "
                           "clickhouse://user:pass@host:8123/database. Default: $MOMENTS_STORE, else --db.")(command)
    return click.option("--db", default=None, help="DuckDB file (default: $MOMENTS_DB, else ./moments.duckdb).")(command)


def _store_target(db: str | None, store_url: str | None) -> str:
    # Explicit flags first, then the environment, then ./moments.duckdb.
    return store_url or db or os.environ.get("MOMENTS_STORE") or default_db_path()


def open_from(db: str | None, store_url: str | None) -> Store:
    """The store, created when it does not exist yet (`serve`, `env create`)."""
    return _open(_store_target(db, store_url), "stop the server first")


def open_existing(db: str | None, store_url: str | None, over_http: bool = False) -> Store:
    """A store that exists: a mistyped --db is an error, never a new empty file.

    `over_http`: the command also takes --url, which the error of a store held by a running
    server then names."""
    target = _store_target(db, store_url)
    local = _local_path(target)
    if local is not None and not Path(local).exists():
        fail(f"no store at {local} (`moments env create NAME` with the same --db/--store creates one; "
             "or correct the path)")
    fix = ("pass --url http://HOST:PORT with --token-id/--token-secret (or set MOMENTS_URL, MUX_TOKEN_ID and "
           "MUX_TOKEN_SECRET) to ask the server instead, or stop the server") if over_http else "stop the server first"
    return _open(target, fix)


@contextmanager
def environment_store(db: str | None, store_url: str | None, environment_id: str) -> Iterator[Store]:
    """The existing store (see open_existing) of an environment that exists in it, closed after."""
    store = open_existing(db, store_url, over_http=True)
    try:
        if store.get_environment(environment_id) is None:
            fail(f"no environment {environment_id!r}")
        yield store
    finally:
        store.close()


def _local_path(target: str) -> str | None:
    """The file or folder a store target names on this machine; None for a server or memory."""
    if target.startswith(("clickhouse://", "clickhouses://")):
        return None
    path = target.removeprefix("duckdb://").removeprefix("chdb://")
    return None if path in ("", ":memory:") else path


def _open(target: str, fix: str) -> Store:
    import duckdb  # loaded by the store anyway; its errors are the store's errors

    try:
        return open_store(target)
    except (ValueError, duckdb.Error) as error:
        if _LOCKED.search(str(error)):
            pid = _LOCK_PID.search(str(error))
            holder = f"process {pid.group(1)}" if pid else "another process"
            fail(f"the store {target} is held by {holder} (a running `moments serve`?): {fix}")
        fail(f"cannot open store {target}: {error}")


def emit(value: dict, as_json: bool, human: str) -> None:
    click.echo(json.dumps(value) if as_json else human)


def fail(message: str) -> NoReturn:
    raise click.ClickException(message)


# --- a running server ----------------------------------------------------------------------

@dataclass(frozen=True)
class Remote:
    """A running moments server and the token to ask it with (--url, --token-id, --token-secret)."""

    url: str
    token_id: str
    token_secret: str

    def ask(self, call: Callable[[BodyClient], T], not_found: str | None = None, timeout_s: float = 30.0) -> T:
        """`call(client)`, its error answers as CLI errors (`not_found`: what a 404 means here;
        `timeout_s`: how long a response may take)."""
        import httpx

        from moments import client as api

        try:
            with api.BodyClient(self.token_id, self.token_secret, self.url, timeout=timeout_s) as client:
                return call(client)
        except api.AuthenticationError:
            fail(f"{self.url} refused the token (401): check --token-id and --token-secret "
                 "(or MUX_TOKEN_ID and MUX_TOKEN_SECRET)")
        except api.PermissionDeniedError as error:
            fail(f"the token may not do this (403): {'; '.join(error.messages)}")
        except api.NotFoundError as error:
            fail(not_found or f"not found (404): {'; '.join(error.messages)}")
        except api.RateLimitError:
            fail(f"{self.url} is rate limiting this environment (429): try again in a few seconds")
        except api.APIError as error:
            fail(f"{self.url} refused the request ({error.status}): {'; '.join(error.messages)}")
        except httpx.HTTPError as error:
            fail(f"cannot reach {self.url}: {error or type(error).__name__}")
        except ValueError:  # a 2xx that is not JSON: something else listens there
            fail(f"{self.url} did not answer as a moments server does (is it the right address?)")

    def check_environment(self, environment_id: str | None) -> None:
        """A token answers for its own environment: an --env naming another one is an error."""
        if environment_id is None:
            return
        own = self.ask(lambda client: client.environment())["data"]["environment_id"]
        if own != environment_id:
            fail(f"the token belongs to environment {own!r}, not {environment_id!r}")


def remote_options(command):
    """--url, --token-id and --token-secret; the command receives `remote` (a Remote, or None
    without --url: then it opens the store)."""
    @functools.wraps(command)
    def bundled(url: str | None, auth_id: str | None, auth_secret: str | None, **rest):
        if url is None:
            return command(remote=None, **rest)
        if not (auth_id and auth_secret):
            raise click.UsageError("--url needs a token: --token-id and --token-secret "
                                   "(or MUX_TOKEN_ID and MUX_TOKEN_SECRET)")
        if rest.get("db") or rest.get("store_url"):
            raise click.UsageError("give --url (a running server) or --db/--store (a store), not both")
        return command(remote=Remote(url.rstrip("/"), auth_id, auth_secret), **rest)

    # Named auth_*: `token revoke TOKEN_ID` has a token_id of its own.
    bundled = click.option("--token-secret", "auth_secret", envvar="MUX_TOKEN_SECRET", default=None,
                           help="With --url: the token's secret (default: $MUX_TOKEN_SECRET).")(bundled)
    bundled = click.option("--token-id", "auth_id", envvar="MUX_TOKEN_ID", default=None,
                           help="With --url: a token ID (default: $MUX_TOKEN_ID).")(bundled)
    return click.option("--url", envvar="MOMENTS_URL", default=None, metavar="URL",
                        help="Ask a running `moments serve` at URL (http://HOST:PORT) over its API instead of "
                             "opening the store (default: $MOMENTS_URL).")(bundled)


def environment_option(command):
    """--env: required for the store; with --url optional (the token's own)."""
    @functools.wraps(command)
    def checked(environment_id: str | None, remote: Remote | None, **rest):
        if remote is None and environment_id is None:
            raise click.UsageError("Missing option '--env' (the environment ID; `moments env list` shows them).")
        return command(environment_id=environment_id, remote=remote, **rest)

    checked = click.option("--env", "environment_id", default=None, help=REMOTE_ENV_HELP)(checked)
    return remote_options(checked)


# --- human text ----------------------------------------------------------------------------

def views_line(body: dict) -> str:
    """The first line of a query's table: how many views, over which timeframe."""
    return f"views: {body['data']['total_views']}   timeframe: {timeframe_text(body['timeframe'])}"


SCORE_KEY = "score: 0.5 = as expected, higher = watched more (peak), lower = less (cold spot)"


# --- query commands ------------------------------------------------------------------------

def query_options(command):
    """--env, one of --asset/--video/--playback-id, --timeframe, --filter, --json, the store
    options and --url with its token; the command receives them bundled as `target` (a
    QueryTarget) and `as_json`."""
    @functools.wraps(command)
    def bundled(environment_id, asset, video, playback_id, timeframe, filters, db, store_url, remote, **rest):
        chosen = [(s, v) for s, v in ((Scope.ASSET, asset), (Scope.VIDEO, video), (Scope.PLAYBACK_ID, playback_id)) if v]
        if len(chosen) != 1:
            raise click.UsageError("give exactly one of --asset, --video, --playback-id")
        target = QueryTarget(environment_id, chosen[0][0], chosen[0][1], tuple(timeframe), checked_filters(filters),
                             tuple(filters), db, store_url, remote)
        return command(target=target, **rest)

    bundled = click.option("--json", "as_json", is_flag=True, help="Print the API's response body.")(bundled)
    bundled = click.option("--filter", "filters", multiple=True, metavar="DIM:VALUE",
                           help="Only matching views, Mux syntax: country:US, !device_type:tv (repeat the option).")(bundled)
    bundled = click.option("--timeframe", multiple=True,
                           help="A duration (7:days) or two epoch seconds (repeat the option). Default: 7 days.")(bundled)
    bundled = click.option("--playback-id", default=None, help="The playback ID to ask about.")(bundled)
    bundled = click.option("--video", default=None, help="The video ID to ask about.")(bundled)
    bundled = click.option("--asset", default=None, help="The asset ID to ask about.")(bundled)
    return store_options(environment_option(bundled))


# The options that carry the API's query parameters, to name them in usage errors.
OPTIONS = {"timeframe[]": "--timeframe", "against_timeframe[]": "--against-timeframe", "filters[]": "--filter",
           "limit": "--limit", "cursor": "--cursor"}


@contextmanager
def usage_errors() -> Iterator[None]:
    """A parameter moments.params could not read, as a usage error naming its option."""
    try:
        yield
    except ParamError as error:
        raise click.BadParameter(str(error), param_hint=OPTIONS.get(error.param, error.param)) from None


def checked_filters(texts: tuple[str, ...]) -> Filters:
    with usage_errors():
        return params.filters(texts)


@dataclass(frozen=True)
class QueryTarget:
    """What a query command asked about (environment, scope and id, timeframe, filters) and where
    the answer comes from: the store (db, store_url) or a running server (remote)."""

    environment_id: str | None
    scope: Scope | None  # None: every view of the environment (`export views`)
    scope_id: str | None
    timeframe: tuple[str, ...]
    filters: Filters
    filter_texts: tuple[str, ...]  # as given, for the API's filters[]
    db: str | None
    store_url: str | None
    remote: Remote | None = None

    @property
    def kind(self) -> str:
        """The API's path word for the scope: assets, videos, playback-ids."""
        return KINDS[self.scope]

    @property
    def not_found(self) -> str:
        return f"{self.scope.value} {self.scope_id!r} not found"

    def answer(self, local: Callable[[Store, EngagementQuery], T], remote: Callable[[BodyClient], T],
               not_found: str | None = None) -> T:
        """`remote(client)` from the server with --url, else `local(store, query)`.
        `not_found`: what a 404 of the server means (default: the target's id is unknown)."""
        if self.remote is None:
            return self.run(local)
        self.remote.check_environment(self.environment_id)
        return self.remote.ask(remote, not_found or (self.not_found if self.scope else None))

    def run(self, ask: Callable[[Store, EngagementQuery], T]) -> T:
        """`ask(store, query)` on the store, the target made the query the API would make of it;
        usage errors as CLI messages."""
        from moments import stats

        settings = Settings()
        store = open_existing(self.db, self.store_url, over_http=True)
        try:
            environment = store.get_environment(self.environment_id)
            if environment is None:
                fail(f"no environment {self.environment_id!r}")
            now_s = int(time.time())
            with usage_errors():
                window = params.window(self.timeframe, environment, now_s, settings.default_timeframe_s)
            return ask(store, EngagementQuery(environment, self.scope, self.scope_id, window, self.filters, now_s * 1000,
                                              settings.idle_timeout_s))
        except stats.UnknownScopeId:
            fail(self.not_found)
        finally:
            store.close()


def engagement_bodies(target: QueryTarget, with_hotspots: bool) -> tuple[dict, dict | None]:
    """The heatmap body and (with_hotspots) the hotspots body of a target, as the API answers them."""
    def local(store: Store, query: EngagementQuery) -> tuple[dict, dict | None]:
        from moments import stats

        result = stats.engagement(store, query, with_hotspots)
        hotspots = stats.hotspots_json(result) if with_hotspots else None
        return stats.heatmap_json(result), hotspots

    def remote(client: BodyClient) -> tuple[dict, dict | None]:
        heatmap = client.heatmap(target.kind, target.scope_id, target.timeframe, target.filter_texts)
        # The same window for both: a relative timeframe could move on between the two requests.
        window = [str(t) for t in heatmap["timeframe"]]
        hotspots = client.hotspots(target.kind, target.scope_id, window,
                                   filters=target.filter_texts) if with_hotspots else None
        return heatmap, hotspots

    return target.answer(local, remote)
