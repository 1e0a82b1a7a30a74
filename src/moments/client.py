"""A Python client for moments (and for the Mux Data Engagement API it mirrors).

    from moments.client import Client
    with Client() as client:  # MUX_TOKEN_ID, MUX_TOKEN_SECRET, like Mux's SDKs
        heatmap = client.heatmap("assets", "movie-1", timeframe=["7:days"])
        for point in buckets_to_timeline(heatmap.value, heatmap.duration_ms):
            ...

The server is `base_url`, else $MUX_BASE_URL, else $MOMENTS_URL, else http://127.0.0.1:8000
(`moments serve`'s address). `AsyncClient` has the same methods, awaitable. Errors raise the
same classes Mux's SDKs map statuses to (`BadRequestError`, `AuthenticationError`,
`NotFoundError`, ...). `BodyClient` sends the same calls and returns the API's bodies as they
came (the CLI prints those).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, fields, replace
from typing import Any, Callable, Generic, Iterable, Literal, TypeVar
from urllib.parse import quote

import httpx

Kind = Literal["assets", "videos", "playback-ids"]
T = TypeVar("T")
DEFAULT_BASE_URL = "http://127.0.0.1:8000"  # where `moments serve` listens by default


class APIError(Exception):
    """An error response: `status`, Mux's error `type` and its `messages`."""

    def __init__(self, status: int, error_type: str, messages: list[str]) -> None:
        super().__init__(f"{status} {error_type}: {'; '.join(messages)}")
        self.status, self.type, self.messages = status, error_type, messages


class BadRequestError(APIError): ...
class AuthenticationError(APIError): ...
class PermissionDeniedError(APIError): ...
class NotFoundError(APIError): ...
class RateLimitError(APIError): ...
class InternalServerError(APIError): ...


ERRORS = {400: BadRequestError, 401: AuthenticationError, 403: PermissionDeniedError, 404: NotFoundError,
          429: RateLimitError}


@dataclass(frozen=True)
class Heatmap:
    total_views: int
    value: list[float]
    timeframe: tuple[int, int]
    total_row_count: int
    duration_ms: int | None  # ours: to place the buckets on the timeline
    value_low: list[float] | None = None  # ours, with intervals=True: each value's 95% interval
    value_high: list[float] | None = None


@dataclass(frozen=True)
class Hotspot:
    start_ms: int
    end_ms: int
    score: float


@dataclass(frozen=True)
class Hotspots:
    total_views: int
    hotspots: list[Hotspot]
    timeframe: tuple[int, int]
    total_row_count: int


@dataclass(frozen=True)
class Layers:
    """Ours: the heatmap (`unique`) with its rewatch, arrival and departure layers, per bucket."""

    total_views: int
    duration_ms: int | None
    unique: list[float]
    rewatch: list[float]
    arrivals: list[float]
    departures: list[float]
    timeframe: tuple[int, int]
    total_row_count: int


@dataclass(frozen=True)
class Rejected:
    index: int
    view_id: str | None
    messages: list[str]


@dataclass(frozen=True)
class ImportResult:
    accepted: int
    rejected: list[Rejected]  # the first 100 (by index) of rejected_total
    rejected_total: int


@dataclass(frozen=True)
class Asset:
    asset_id: str
    duration_ms: int | None
    playback_ids: list[str]
    playback_url: str | None
    # Mux Player's addChapters shape ({"startTime": s, "endTime": s or None, "value": title}),
    # so they can go to the player as they are.
    chapters: list[dict]


@dataclass(frozen=True)
class EnvironmentInfo:
    """The calling token's environment (GET /v1/environment)."""

    environment_id: str
    name: str
    env_key: str
    retention_days: int
    rate_limit_per_s: float
    rate_limit_burst: int
    allowed_origins: list[str]


@dataclass(frozen=True)
class BackupInfo:
    """A copy of the store the server wrote (POST /v1/backup)."""

    path: str  # on the server's machine, in its backup folder
    bytes: int
    seconds: float


@dataclass(frozen=True)
class TokenInfo:
    """An access token of the environment, as listed (never its secret)."""

    token_id: str
    environment_id: str
    permissions: list[str]
    created_at: int  # epoch ms


@dataclass(frozen=True)
class IssuedToken:
    """A new token or a new secret: the secret is shown this once."""

    token_id: str
    token_secret: str
    environment_id: str
    permissions: list[str]


@dataclass(frozen=True)
class IdCount:
    id: str
    views: int
    registered: bool | None = None  # assets and playback IDs: registered with PUT /v1/assets; videos: None


@dataclass(frozen=True)
class IdList:
    data: list[IdCount]
    total_row_count: int


@dataclass(frozen=True)
class TimelinePoint:
    start_s: float
    end_s: float
    value: float


def buckets_to_timeline(values: Iterable[float], duration_ms: int) -> list[TimelinePoint]:
    """Each heatmap value with the stretch of content it covers, in seconds."""
    values = list(values)
    width = duration_ms / 1000 / len(values) if values else 0.0
    return [TimelinePoint(i * width, (i + 1) * width, v) for i, v in enumerate(values)]


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and how to read its answer; both clients send the same calls."""

    method: str
    path: str
    parse: Callable[[Any], T]
    params: list[tuple[str, str]] | None = None
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] | None = None
    raw: bool = False  # parse gets the body's bytes (exports), not its JSON


def _timeframe(timeframe: Iterable[str | int] | None, filters: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """timeframe[] and filters[] (Mux syntax: "country:US", "!device_type:tv") as query parameters."""
    return [("timeframe[]", str(t)) for t in (timeframe or [])] + [("filters[]", f) for f in (filters or [])]


def _engagement_path(kind: Kind, scope_id: str, what: str) -> str:
    return f"/data/v1/engagement/{kind}/{quote(scope_id, safe='')}/{what}"


def _heatmap(body: dict) -> Heatmap:
    data = body["data"]
    return Heatmap(data["total_views"], data["value"], tuple(body["timeframe"]), body["total_row_count"],
                   data.get("duration_ms"), data.get("value_low"), data.get("value_high"))


def _hotspots(body: dict) -> Hotspots:
    data = body["data"]
    return Hotspots(data["total_views"], [Hotspot(**h) for h in data["hotspots"]], tuple(body["timeframe"]),
                    body["total_row_count"])


def _layers(body: dict) -> Layers:
    data = body["data"]
    return Layers(data["total_views"], data["duration_ms"], data["unique"], data["rewatch"], data["arrivals"],
                  data["departures"], tuple(body["timeframe"]), body["total_row_count"])


def _bytes(body: bytes) -> bytes:
    return body


def _asset(body: dict) -> Asset:
    return Asset(**_known(Asset, body["data"]))


def _import(body: dict) -> ImportResult:
    data = body["data"]
    return ImportResult(data["accepted"], [Rejected(**r) for r in data["rejected"]], data["rejected_total"])


def _environment(body: dict) -> EnvironmentInfo:
    return EnvironmentInfo(**_known(EnvironmentInfo, body["data"]))


def _tokens(body: dict) -> list[TokenInfo]:
    return [TokenInfo(**_known(TokenInfo, row)) for row in body["data"]]


def _issued(body: dict) -> IssuedToken:
    return IssuedToken(**_known(IssuedToken, body["data"]))


def _backup(body: dict) -> BackupInfo:
    return BackupInfo(**_known(BackupInfo, body["data"]))


def _nothing(body: dict) -> None:
    return None


def _ids(body: dict) -> IdList:
    return IdList([IdCount(**_known(IdCount, item)) for item in body["data"]], body["total_row_count"])


@dataclass(frozen=True)
class ViewEnding:
    kind: Literal["completed", "left", "in_progress", "not_played"]
    at_ms: int | None  # the last position played


@dataclass(frozen=True)
class ViewSummary:
    """One row of a views listing (times: epoch ms; media positions and lengths: ms)."""

    view_id: str
    view_start: int
    view_end: int | None
    duration_ms: int
    asset_id: str | None
    playback_id: str | None
    video_id: str | None
    watched_ms: int  # rewatches included
    unique_watched_ms: int
    seeks: int
    ended: ViewEnding
    country: str | None
    browser: str | None
    os: str | None
    device_type: str | None
    player_name: str | None
    sdk_name: str | None
    sdk_version: str | None


@dataclass(frozen=True)
class ViewPage:
    data: list[ViewSummary]  # newest first
    total_row_count: int
    timeframe: tuple[int, int]
    next_cursor: str | None  # pass as `cursor` for the next page; None on the last one


@dataclass(frozen=True)
class PathStep:
    """A play (start_ms, end_ms) or a seek (from_ms, to_ms, direction "forward" | "backward")."""

    type: Literal["play", "seek"]
    start_ms: int | None = None
    end_ms: int | None = None
    from_ms: int | None = None
    to_ms: int | None = None
    direction: Literal["forward", "backward"] | None = None


@dataclass(frozen=True)
class ViewDetail(ViewSummary):
    ranges: list[tuple[int, int]]  # as the player reported them, in play order
    reports_ranges: bool
    dimensions: dict[str, str]
    path: list[PathStep]


def _known(cls: type, row: dict) -> dict:
    """The fields `cls` has, from a row that may hold more (a newer server may add some)."""
    return {f.name: row.get(f.name) for f in fields(cls)}


def _view_summary(row: dict, cls: type = ViewSummary):
    return cls(**{**_known(cls, row), "ended": ViewEnding(**_known(ViewEnding, row["ended"]))})


def _view_page(body: dict) -> ViewPage:
    return ViewPage([_view_summary(row) for row in body["data"]], body["total_row_count"], tuple(body["timeframe"]),
                    body["next_cursor"])


def _view_detail(body: dict) -> ViewDetail:
    data = body["data"]
    return _view_summary({**data, "ranges": [tuple(r) for r in data["ranges"]],
                          "path": [PathStep(**_known(PathStep, step)) for step in data["path"]]}, ViewDetail)


@dataclass(frozen=True)
class Summary:
    """The figures people quote (docs/engagement.md, "Summary figures"); each None without views,
    the last three also unless asked for with `per_view`."""

    total_views: int
    duration_ms: int | None
    average_viewed: float | None  # mean share of the content a view watched, 0..1
    average_view_ms: float | None
    completion_rate: float | None  # the share of viewers who watched the last moment
    retention_at_10_percent: float | None
    retention_at_30_s: float | None
    median_view_ms: float | None
    rewatch_rate: float | None
    seek_rate: float | None  # seeks per view
    intervals: dict[str, tuple[float, float] | None]  # each figure's 95% interval (low, high)
    timeframe: tuple[int, int]


def _intervals(row: dict) -> dict[str, tuple[float, float] | None]:
    return {name: None if pair is None else (pair[0], pair[1]) for name, pair in row["intervals"].items()}


def _summary(body: dict) -> Summary:
    return Summary(**{**_known(Summary, body["data"]), "intervals": _intervals(body["data"]),
                      "timeframe": tuple(body["timeframe"])})


@dataclass(frozen=True)
class ChapterFigures:
    """One chapter's figures (docs/engagement.md, "Chapters"); each None without views, or when
    the chapter starts after the content's end."""

    title: str
    start_ms: int
    end_ms: int
    reached: float | None  # the share of views that watched some of it
    finished: float | None  # the share that watched some of its final second
    average_watched: float | None  # the mean share of it watched by the views that reached it
    leave_median_ms: float | None  # where in it (ms from its start) those who left it mid-way left
    leaves_by_tenth: list[float]  # the share of all views leaving in each tenth of it
    intervals: dict[str, tuple[float, float] | None]  # each figure's 95% interval (low, high)


@dataclass(frozen=True)
class Chapters:
    total_views: int
    duration_ms: int | None
    asset_id: str | None  # the asset whose chapters these are
    note: str | None  # why there are none
    chapters: list[ChapterFigures]
    timeframe: tuple[int, int]


def _chapters(body: dict) -> Chapters:
    figures = [ChapterFigures(**{**_known(ChapterFigures, row), "intervals": _intervals(row)})
               for row in body["data"]["chapters"]]
    return Chapters(**{**_known(Chapters, body["data"]), "chapters": figures, "timeframe": tuple(body["timeframe"])})


@dataclass(frozen=True)
class RelativeOverall:
    average: float  # mean of the curve: the average share of the content a view watched
    typical_average: float
    ratio: float | None  # average / typical_average (1.18: "retains 18% more than similar content")
    better_than: float  # share of the peers whose average is lower, 0..1


@dataclass(frozen=True)
class Relative:
    """A curve against the typical curve of similar-length content (docs/engagement.md)."""

    total_views: int
    duration_ms: int | None
    value: list[float]
    typical: list[float]  # on value's grid; empty when there is no figure (see `note`)
    relative: list[float]  # value - typical
    overall: RelativeOverall | None
    peers: int  # peers whose curves made the typical curve
    candidates: int  # ids of similar length looked at
    max_peers: int  # the most looked at
    band: tuple[int, int] | None  # the peers' durations, (min_ms, max_ms)
    note: str | None
    significant: list[bool]  # per bucket: beyond the peers' spread and chance (Holm, 5%); empty without a verdict
    average_p_value: float | None
    average_significant: bool | None
    verdict_note: str | None  # why there is no verdict
    timeframe: tuple[int, int]


@dataclass(frozen=True)
class ComparisonSide:
    id: str
    label: str
    timeframe: tuple[int, int]
    total_views: int
    duration_ms: int | None  # this side's own duration; `value` is on the comparison's grid
    value: list[float]


@dataclass(frozen=True)
class Comparison:
    duration_ms: int | None  # side a's: the grid both values are on
    a: ComparisonSide
    b: ComparisonSide
    difference: list[float]  # b - a; empty when a side has no views
    significant: list[bool]  # per bucket: beyond chance (Holm, 5% family-wise); empty without a verdict
    average_difference: float | None  # b's average share viewed minus a's
    average_p_value: float | None
    average_significant: bool | None
    verdict_note: str | None  # why there is no verdict ("not enough views to tell: ...")
    timeframe: tuple[int, int]


def _relative(body: dict) -> Relative:
    data = body["data"]
    overall = None if data["overall"] is None else RelativeOverall(**_known(RelativeOverall, data["overall"]))
    band = None if data["band"] is None else (data["band"]["min_ms"], data["band"]["max_ms"])
    return Relative(**{**_known(Relative, data), "overall": overall, "band": band, "timeframe": tuple(body["timeframe"])})


def _side(row: dict) -> ComparisonSide:
    return ComparisonSide(**{**_known(ComparisonSide, row), "timeframe": tuple(row["timeframe"])})


def _comparison(body: dict) -> Comparison:
    data = body["data"]
    return Comparison(**{**_known(Comparison, data), "a": _side(data["a"]), "b": _side(data["b"]),
                         "timeframe": tuple(body["timeframe"])})


class _Endpoints:
    """Every endpoint as a method that builds a `Call`; `_send` makes it sync or async."""

    def _send(self, call: Call):
        raise NotImplementedError

    # -- the Mux-compatible six ------------------------------------------------------
    def heatmap(self, kind: Kind, scope_id: str, timeframe: Iterable[str | int] | None = None,
                filters: Iterable[str] | None = None, intervals: bool = False):
        """-> Heatmap. `kind`: "assets", "videos" or "playback-ids". `intervals`: ask moments' own
        /v1 heatmap, which adds each value's 95% interval (value_low, value_high)."""
        if intervals:
            return self._send(Call("GET", f"/v1/engagement/{kind}/{quote(scope_id, safe='')}/heatmap", _heatmap,
                                   _timeframe(timeframe, filters) + [("intervals", "true")]))
        return self._send(Call("GET", _engagement_path(kind, scope_id, "heatmap"), _heatmap,
                               _timeframe(timeframe, filters)))

    def hotspots(self, kind: Kind, scope_id: str, timeframe: Iterable[str | int] | None = None,
                 limit: int | None = None, order_direction: Literal["asc", "desc"] | None = None,
                 filters: Iterable[str] | None = None):
        """-> Hotspots, strongest peaks first (`order_direction="asc"`: deepest cold spots first)."""
        params = _timeframe(timeframe, filters)
        if limit is not None:
            params.append(("limit", str(limit)))
        if order_direction is not None:
            params.append(("order_direction", order_direction))
        return self._send(Call("GET", _engagement_path(kind, scope_id, "hotspots"), _hotspots, params))

    # -- moments' own ------------------------------------------------------------------
    def layers(self, kind: Kind, scope_id: str, timeframe: Iterable[str | int] | None = None,
               filters: Iterable[str] | None = None):
        """-> Layers: the heatmap with rewatch, arrivals and departures per bucket."""
        path = f"/v1/engagement/{kind}/{quote(scope_id, safe='')}/layers"
        return self._send(Call("GET", path, _layers, _timeframe(timeframe, filters)))

    def export(self, kind: Kind, scope_id: str, what: Literal["heatmap", "layers", "hotspots", "summary", "chapters"],
               format: Literal["csv", "json", "parquet"], timeframe: Iterable[str | int] | None = None,
               filters: Iterable[str] | None = None):
        """-> bytes: the tidy table of `what` as a CSV, JSON or Parquet file (README, "Exports")."""
        path = f"/v1/engagement/{kind}/{quote(scope_id, safe='')}/export/{what}.{format}"
        return self._send(Call("GET", path, _bytes, _timeframe(timeframe, filters), raw=True))

    def export_views(self, timeframe: Iterable[str | int] | None = None, filters: Iterable[str] | None = None,
                     asset_id: str | None = None, video_id: str | None = None, playback_id: str | None = None):
        """-> bytes: the completed views as Parquet in the import format (at most one of the ids)."""
        params = _timeframe(timeframe, filters)
        params += [(k, v) for k, v in (("asset_id", asset_id), ("video_id", video_id), ("playback_id", playback_id))
                   if v is not None]
        return self._send(Call("GET", "/v1/exports/views.parquet", _bytes, params, raw=True))

    def import_views(self, views: Iterable[dict]):
        """-> ImportResult. Views in the import format (README), sent as NDJSON."""
        body = "\n".join(json.dumps(v) for v in views).encode()
        return self._send(Call("POST", "/v1/views", _import, content=body,
                               headers={"content-type": "application/x-ndjson"}))

    def put_asset(self, asset_id: str, duration_ms: int, playback_ids: Iterable[str] = (),
                  playback_url: str | None = None, chapters: Iterable[dict] = ()):
        """-> Asset. Register or replace an asset. `chapters`: in Mux Player's addChapters shape,
        [{"startTime": 0, "endTime": 30 (optional), "value": "Intro"}, ...], times in seconds."""
        payload = {"duration_ms": duration_ms, "playback_ids": list(playback_ids), "playback_url": playback_url,
                   "chapters": list(chapters)}
        return self._send(Call("PUT", f"/v1/assets/{quote(asset_id, safe='')}", _asset, json=payload))

    def get_asset(self, asset_id: str):
        """-> Asset."""
        return self._send(Call("GET", f"/v1/assets/{quote(asset_id, safe='')}", _asset))

    def environment(self):
        """-> EnvironmentInfo: the environment the token belongs to."""
        return self._send(Call("GET", "/v1/environment", _environment))

    def set_allowed_origins(self, patterns: Iterable[str]):
        """-> EnvironmentInfo: the sites the environment takes beacons from, replaced (admin; none: anywhere)."""
        return self._send(Call("PATCH", "/v1/environment", _environment, json={"allowed_origins": list(patterns)}))

    def list_tokens(self):
        """-> list[TokenInfo]: the environment's tokens, oldest first (an admin token's call)."""
        return self._send(Call("GET", "/v1/tokens", _tokens))

    def create_token(self, permissions: Iterable[str] = ("read",)):
        """-> IssuedToken: a new token of the environment (admin)."""
        return self._send(Call("POST", "/v1/tokens", _issued, json={"permissions": list(permissions)}))

    def rotate_token(self, token_id: str):
        """-> IssuedToken: a new secret for the token; the old one stops working (admin)."""
        return self._send(Call("POST", f"/v1/tokens/{quote(token_id, safe='')}/rotate", _issued))

    def revoke_token(self, token_id: str):
        """-> None. The API refuses the token from then on (admin)."""
        return self._send(Call("DELETE", f"/v1/tokens/{quote(token_id, safe='')}", _nothing))

    def backup(self):
        """-> BackupInfo: the server copies its whole store into a new file in its backup folder (admin)."""
        return self._send(Call("POST", "/v1/backup", _backup))

    def list_ids(self, kind: Kind, search: str | None = None, limit: int | None = None):
        """-> IdList: the environment's ids of one kind, most viewed first."""
        params = [(k, str(v)) for k, v in (("search", search), ("limit", limit)) if v is not None]
        return self._send(Call("GET", f"/v1/{kind}", _ids, params))

    def list_views(self, kind: Kind, scope_id: str, timeframe: Iterable[str | int] | None = None,
                   filters: Iterable[str] | None = None, limit: int | None = None, cursor: str | None = None):
        """-> ViewPage: the views the heatmap counts, newest first; pass `next_cursor` back as `cursor`."""
        params = _timeframe(timeframe, filters)
        params += [(k, str(v)) for k, v in (("limit", limit), ("cursor", cursor)) if v is not None]
        path = f"/v1/engagement/{kind}/{quote(scope_id, safe='')}/views"
        return self._send(Call("GET", path, _view_page, params))

    def get_view(self, view_id: str):
        """-> ViewDetail: one view with its ranges and watch path (plays and seeks in order)."""
        return self._send(Call("GET", f"/v1/views/{quote(view_id, safe='')}", _view_detail))

    def summary(self, kind: Kind, scope_id: str, timeframe: Iterable[str | int] | None = None,
                filters: Iterable[str] | None = None, per_view: bool = False):
        """-> Summary: views, average viewed, completion, intro retention; with `per_view`, also the
        median view, rewatch and seek rates (which read every counted view)."""
        params = _timeframe(timeframe, filters) + ([("per_view", "true")] if per_view else [])
        path = f"/v1/engagement/{kind}/{quote(scope_id, safe='')}/summary"
        return self._send(Call("GET", path, _summary, params))

    def chapters(self, kind: Kind, scope_id: str, timeframe: Iterable[str | int] | None = None,
                 filters: Iterable[str] | None = None):
        """-> Chapters: per chapter of the content's asset, the share of views that reached it and
        finished it, how much of it they watched and where in it they left."""
        path = f"/v1/engagement/{kind}/{quote(scope_id, safe='')}/chapters"
        return self._send(Call("GET", path, _chapters, _timeframe(timeframe, filters)))

    def relative(self, kind: Kind, scope_id: str, timeframe: Iterable[str | int] | None = None,
                 filters: Iterable[str] | None = None):
        """-> Relative: the curve against the typical curve of the environment's similar-length content."""
        params = _timeframe(timeframe, filters)
        path = f"/v1/engagement/{kind}/{quote(scope_id, safe='')}/relative"
        return self._send(Call("GET", path, _relative, params))

    def compare(self, kind: Kind, scope_id: str, timeframe: Iterable[str | int] | None = None,
                against_timeframe: Iterable[str | int] | None = None, against: str | None = None,
                filters: Iterable[str] | None = None):
        """-> Comparison: this id over `timeframe` (a) against `against` (another id of the kind; for
        playback IDs, of the same asset) and/or over `against_timeframe` (b), on a's grid."""
        params = _timeframe(timeframe, filters) + [("against_timeframe[]", str(t)) for t in (against_timeframe or [])]
        params += [("against", against)] if against is not None else []
        path = f"/v1/engagement/{kind}/{quote(scope_id, safe='')}/compare"
        return self._send(Call("GET", path, _comparison, params))


def _settings(token_id: str | None, token_secret: str | None, base_url: str | None) -> tuple[str, tuple[str, str]]:
    token_id = token_id or os.environ.get("MUX_TOKEN_ID")
    token_secret = token_secret or os.environ.get("MUX_TOKEN_SECRET")
    # MUX_BASE_URL first: Mux's SDKs read it, so a program moved from Mux keeps its setting.
    base_url = base_url or os.environ.get("MUX_BASE_URL") or os.environ.get("MOMENTS_URL") or DEFAULT_BASE_URL
    if not (token_id and token_secret):
        raise ValueError("give token_id and token_secret, or set MUX_TOKEN_ID and MUX_TOKEN_SECRET")
    return base_url.rstrip("/"), (token_id, token_secret)


def _result(call: Call[T], response: httpx.Response) -> T:
    if response.status_code < 400:
        return call.parse(response.content if call.raw else response.json())
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code == 429:
        raise RateLimitError(429, "rate_limited", body.get("errors") or ["Too many requests"])
    error = body.get("error") or {}
    kind = ERRORS.get(response.status_code, InternalServerError if response.status_code >= 500 else APIError)
    raise kind(response.status_code, error.get("type", "error"), error.get("messages") or [response.text[:200]])


class Client(_Endpoints):
    def __init__(self, token_id: str | None = None, token_secret: str | None = None, base_url: str | None = None,
                 timeout: float = 30.0) -> None:
        base, auth = _settings(token_id, token_secret, base_url)
        self._http = httpx.Client(base_url=base, auth=auth, timeout=timeout)

    def _send(self, call: Call[T]) -> T:
        return _result(call, self._request(call))

    def _request(self, call: Call) -> httpx.Response:
        return self._http.request(call.method, call.path, params=call.params, json=call.json,
                                  content=call.content, headers=call.headers)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class Download:
    """A file an export answers with: its bytes and the name the server gave it."""

    content: bytes
    file_name: str | None


_FILE_NAME = re.compile(r'filename="([^"]+)"')


class BodyClient(Client):
    """Client's methods answered with the API's bodies as they came: JSON bodies as dicts,
    exports as `Download`. For programs that print or pass on the API's shapes (the CLI's --url)."""

    def _send(self, call: Call) -> Any:
        response = self._request(call)

        def body(value: Any) -> Any:
            if not call.raw:
                return value
            named = _FILE_NAME.search(response.headers.get("content-disposition", ""))
            return Download(value, named.group(1) if named else None)

        return _result(replace(call, parse=body), response)


class AsyncClient(_Endpoints):
    def __init__(self, token_id: str | None = None, token_secret: str | None = None, base_url: str | None = None,
                 timeout: float = 30.0) -> None:
        base, auth = _settings(token_id, token_secret, base_url)
        self._http = httpx.AsyncClient(base_url=base, auth=auth, timeout=timeout)

    async def _send(self, call: Call[T]) -> T:
        response = await self._http.request(call.method, call.path, params=call.params, json=call.json,
                                            content=call.content, headers=call.headers)
        return _result(call, response)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()
