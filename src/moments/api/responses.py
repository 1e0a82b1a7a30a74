"""Every JSON answer of the API, described once: the `response_model` of its route, so
/openapi.json says exactly what is sent. Routes still send bytes built by stats/*_json and
friends (a Response is not validated again: no cost per request); tests/test_response_models.py
checks real answers and the Python client against these descriptions, so neither can drift.

Every model forbids fields it does not name (`additionalProperties: false`) and requires every
field it names (a nullable field is sent as null, never left out).
"""

# No "from __future__ import annotations": pydantic reads these annotations at runtime.

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


Timeframe = list[int]  # [start, end], epoch seconds: the effective window


# --- the Mux-compatible six ---------------------------------------------------------------------

class Heatmap(Shape):
    total_views: int
    value: list[float]  # one value per bucket: the share of views that watched it, 0..1
    duration_ms: int | None  # ours: the content length the buckets divide


class HeatmapResponse(Shape):
    total_row_count: int
    timeframe: Timeframe
    data: Heatmap


class HeatmapIntervals(Heatmap):
    """Ours (/v1/.../heatmap): each value's 95% interval with intervals=true, else null."""

    value_low: list[float] | None
    value_high: list[float] | None


class HeatmapIntervalsResponse(Shape):
    total_row_count: int
    timeframe: Timeframe
    data: HeatmapIntervals


class HotspotItem(Shape):
    start_ms: int
    end_ms: int
    score: float  # 0.5 = as expected; above: a peak, below: a cold spot


class Hotspots(Shape):
    total_views: int
    hotspots: list[HotspotItem]


class HotspotsResponse(Shape):
    total_row_count: int  # hotspots before `limit`
    timeframe: Timeframe
    data: Hotspots


# --- moments' engagement routes ------------------------------------------------------------------

class Layers(Shape):
    total_views: int
    duration_ms: int | None
    unique: list[float]  # the heatmap
    rewatch: list[float]
    arrivals: list[float]
    departures: list[float]


class LayersResponse(Shape):
    total_row_count: int
    timeframe: Timeframe
    data: Layers


class RelativeOverall(Shape):
    average: float
    typical_average: float
    ratio: float | None
    better_than: float


class Band(Shape):
    min_ms: int
    max_ms: int


class Relative(Shape):
    total_views: int
    duration_ms: int | None
    value: list[float]
    typical: list[float]
    relative: list[float]
    overall: RelativeOverall | None
    peers: int
    candidates: int
    max_peers: int
    band: Band | None
    note: str | None
    # Beyond chance? (docs/engagement.md): per bucket against the peers' values there, Holm at 5%
    # family-wise; overall, the average against the peers' averages. Empty and nulls without a
    # verdict, with verdict_note saying why.
    significant: list[bool]
    average_p_value: float | None
    average_significant: bool | None
    verdict_note: str | None


class RelativeResponse(Shape):
    timeframe: Timeframe
    data: Relative


class ComparisonSide(Shape):
    id: str
    label: str
    timeframe: Timeframe
    total_views: int
    duration_ms: int | None
    value: list[float]  # on the comparison's grid (side a's buckets)


class Comparison(Shape):
    duration_ms: int | None
    a: ComparisonSide
    b: ComparisonSide
    difference: list[float]
    # Is it real? (docs/engagement.md): per bucket, Holm at 5% family-wise; overall, the average
    # share viewed. Empty and nulls without a verdict, with verdict_note saying why.
    significant: list[bool]
    average_difference: float | None
    average_p_value: float | None
    average_significant: bool | None
    verdict_note: str | None


class ComparisonResponse(Shape):
    timeframe: Timeframe
    data: Comparison


Interval = Annotated[list[float], Field(min_length=2, max_length=2)]  # [low, high], 95%


class SummaryIntervals(Shape):
    """The 95% interval of each figure (docs/engagement.md, "How sure each figure is"); null where
    the figure is."""

    average_viewed: Interval | None
    average_view_ms: Interval | None
    completion_rate: Interval | None
    retention_at_10_percent: Interval | None
    retention_at_30_s: Interval | None
    median_view_ms: Interval | None
    rewatch_rate: Interval | None
    seek_rate: Interval | None


class Summary(Shape):
    """docs/engagement.md, "Summary figures"; each null without views (the per-view ones also
    when per_view was not asked for)."""

    total_views: int
    duration_ms: int | None
    average_viewed: float | None  # mean share of the content a view watched, 0..1
    average_view_ms: float | None  # mean unique watched time
    completion_rate: float | None  # the share of viewers who watched the last moment
    retention_at_10_percent: float | None
    retention_at_30_s: float | None  # also null when the content is 30 s long or shorter
    median_view_ms: float | None
    rewatch_rate: float | None  # plays beyond the first, per unique watched ms
    seek_rate: float | None  # seeks per view
    intervals: SummaryIntervals


class SummaryResponse(Shape):
    timeframe: Timeframe
    data: Summary


class ChapterIntervals(Shape):
    """The 95% interval of each chapter figure; null where the figure is."""

    reached: Interval | None
    finished: Interval | None
    average_watched: Interval | None
    leave_median_ms: Interval | None


class ChapterFiguresShape(Shape):
    """docs/engagement.md, "Chapters"; the figures are null without views, or for a chapter that
    starts after the content's end."""

    title: str
    start_ms: int
    end_ms: int  # its given end, else the next chapter's start, else the content's end
    reached: float | None  # the share of views that watched some of it
    finished: float | None  # the share of views that watched some of its final second
    average_watched: float | None  # the mean share of it watched by the views that reached it
    leave_median_ms: float | None  # where in it (ms from its start) the views that left it mid-way left
    leaves_by_tenth: list[float]  # the share of all views leaving in each tenth of it
    intervals: ChapterIntervals


class Chapters(Shape):
    total_views: int
    duration_ms: int | None  # the content length the chapters are laid on
    asset_id: str | None  # the asset whose chapters these are
    note: str | None  # why there are none
    chapters: list[ChapterFiguresShape]


class ChaptersResponse(Shape):
    timeframe: Timeframe
    data: Chapters


class DimensionValue(Shape):
    value: str
    views: int


class Dimension(Shape):
    dimension: str
    values: list[DimensionValue]


class DimensionsResponse(Shape):
    data: list[Dimension]
    sampled_views: int
    total_views: int
    timeframe: Timeframe


class ViewEnding(Shape):
    kind: Literal["completed", "left", "in_progress", "not_played"]
    at_ms: int | None


class ViewSummary(Shape):
    view_id: str
    view_start: int
    view_end: int | None
    duration_ms: int
    asset_id: str | None
    playback_id: str | None
    video_id: str | None
    watched_ms: int
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


class ViewPage(Shape):
    total_row_count: int
    timeframe: Timeframe
    data: list[ViewSummary]
    next_cursor: str | None


class PlayStep(Shape):
    type: Literal["play"]
    start_ms: int
    end_ms: int


class SeekStep(Shape):
    type: Literal["seek"]
    from_ms: int
    to_ms: int
    direction: Literal["forward", "backward"]


class ViewDetail(ViewSummary):
    ranges: list[list[int]]
    reports_ranges: bool
    dimensions: dict[str, str]
    path: list[PlayStep | SeekStep]


class ViewResponse(Shape):
    data: ViewDetail


class IdCount(Shape):
    id: str
    views: int


class RegisteredIdCount(IdCount):
    registered: bool  # registered with PUT /v1/assets


class IdList(Shape):
    data: list[IdCount]
    total_row_count: int


class RegisteredIdList(Shape):
    data: list[RegisteredIdCount]
    total_row_count: int


# --- assets, imports, the environment, tokens, operations ---------------------------------------

class ChapterMark(Shape):
    """Mux Player's addChapters shape: seconds, the title as `value`."""

    startTime: float
    endTime: float | None  # None: until the next chapter starts, or the content ends
    value: str


class Asset(Shape):
    asset_id: str
    duration_ms: int
    playback_ids: list[str]
    playback_url: str | None
    chapters: list[ChapterMark]


class AssetResponse(Shape):
    data: Asset


class PlaybackId(Shape):
    playback_id: str
    asset: Asset | None  # None: seen on views, never registered


class PlaybackIdResponse(Shape):
    data: PlaybackId


class Rejected(Shape):
    index: int  # the record's position in the body, from 0
    view_id: str | None
    messages: list[str]


class ImportResult(Shape):
    accepted: int
    rejected_total: int
    rejected: list[Rejected]  # the first ones, by index


class ImportResponse(Shape):
    data: ImportResult


class Environment(Shape):
    environment_id: str
    name: str
    env_key: str
    retention_days: int
    rate_limit_per_s: float
    rate_limit_burst: int
    allowed_origins: list[str]


class EnvironmentResponse(Shape):
    data: Environment


class TokenInfo(Shape):
    token_id: str
    environment_id: str
    permissions: list[str]
    created_at: int  # epoch ms


class TokensResponse(Shape):
    data: list[TokenInfo]


class IssuedToken(Shape):
    token_id: str
    token_secret: str  # shown this once
    environment_id: str
    permissions: list[str]


class IssuedTokenResponse(Shape):
    data: IssuedToken


class RevokedToken(Shape):
    token_id: str
    environment_id: str
    revoked: Literal[True]


class RevokedTokenResponse(Shape):
    data: RevokedToken


class Backup(Shape):
    path: str
    bytes: int
    seconds: float


class BackupResponse(Shape):
    data: Backup


class Acknowledged(Shape):
    """`{}`: the beacons are in the journal (they count once assembled)."""


class Ingest(Shape):
    lag_s: float
    backlog_bytes: int


class Health(Shape):
    status: Literal["ok"]
    ingest: Ingest
