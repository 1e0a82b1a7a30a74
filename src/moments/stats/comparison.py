"""Compared with what: a curve against similar content, and two curves side by side.

store (which peers) -> stats.engagement (each curve, from rollups) -> engagement/relative.py
(the math) -> the JSON shapes of /v1/engagement/{kind}/{ID}/relative and /compare.
docs/engagement.md ("Compared with what") defines every figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from moments import stats
from moments.engagement import relative as relative_math
from moments.engagement.uncertainty import LEVEL, difference_p_values, holm
from moments.model import Scope
from moments.stats.query import EngagementQuery
from moments.store.base import Store
from moments.timetext import mm_ss

MAX_PEERS = 200  # the most viewed ids of similar length
PEER_ROUND = 50  # peers read per round of store queries; a cancelled query stops between rounds
MIN_PEER_VIEWS = 5  # a peer's curve from fewer views is noise, not "typical"
MIN_VIEWS_TO_TELL = 30  # per side: below, the large-sample tests of a difference are not trusted

KIND_NAMES = {Scope.ASSET: "assets", Scope.VIDEO: "video IDs", Scope.PLAYBACK_ID: "playback IDs"}


class NotComparable(ValueError):
    """The two sides of a comparison cannot be compared (the message says why)."""


class Cancelled(Exception):
    """The caller gave the query up (its client left): it stopped between two steps."""


@dataclass(frozen=True)
class Guard:
    """What a long query asks its caller between steps (work in a thread cannot be killed)."""

    charge: Callable[[int], None] = lambda curves: None  # before that many curves are read; may raise to refuse
    cancelled: Callable[[], bool] = lambda: False  # checked before each round of peers


UNGUARDED = Guard()


@dataclass(frozen=True)
class RelativeResult:
    own: stats.Engagement
    band: tuple[int, int] | None  # durations of the peers, ms; None when this content has none
    peers: int  # peers whose curves made the typical curve
    candidates: int  # ids of similar length looked at (at most MAX_PEERS)
    relative: relative_math.Relative | None  # None: no figure (see `note`)
    note: str | None
    verdict: Verdict  # whether the curve differs from the typical one beyond chance


def _excluded_ids(store: Store, environment_id: str, scope: Scope, scope_id: str) -> set[str]:
    """This content under other names: a playback ID's siblings play the same asset."""
    excluded = {scope_id}
    if scope is Scope.PLAYBACK_ID:
        asset = store.asset_for_playback_id(environment_id, scope_id)
        excluded |= set(asset.playback_ids) if asset else set()
    return excluded


def peer_curves(store: Store, query: EngagementQuery, band: tuple[int, int],
                guard: Guard = UNGUARDED) -> tuple[list[np.ndarray], int]:
    """(curves of the peers with at least MIN_PEER_VIEWS counted views, ids looked at).

    Peers come from this environment only (store.scope_durations takes its id), and get the
    same window and filters as the content they are compared with. They are read PEER_ROUND
    at a time, a few store queries per round; an id removed since it was listed has no views."""
    environment_id = query.environment.environment_id
    excluded = _excluded_ids(store, environment_id, query.scope, query.scope_id)
    rows = store.scope_durations(environment_id, query.scope, band[0], band[1], MAX_PEERS + len(excluded))
    candidates = [peer_id for peer_id, _, _ in rows if peer_id not in excluded][:MAX_PEERS]
    guard.charge(len(candidates))
    curves = []
    for first in range(0, len(candidates), PEER_ROUND):
        if guard.cancelled():
            raise Cancelled
        ids = candidates[first:first + PEER_ROUND]
        peers = stats.engagements(store, query, ids)
        curves += [peers[i].values for i in ids if peers[i].total_views >= MIN_PEER_VIEWS]
    return curves, len(candidates)


def relative(store: Store, query: EngagementQuery, guard: Guard = UNGUARDED) -> RelativeResult:
    """This content's curve against the typical curve of the environment's content of similar length."""
    own = stats.engagement(store, query)
    if own.duration_ms is None:
        why = "no views in the timeframe and no registered duration"
        return RelativeResult(own, None, 0, 0, None, why, Verdict(np.zeros(0, dtype=bool), None, None, why))
    band = relative_math.band(own.duration_ms)
    curves, candidates = peer_curves(store, query, band, guard)
    result = relative_math.relative_to_peers(own.values, own.total_views, curves)
    note = None
    if own.total_views == 0:
        note = "no views in the timeframe"
    elif result is None:
        note = (f"not enough similar content: {len(curves)} other {KIND_NAMES[query.scope]} {mm_ss(band[0])} to {mm_ss(band[1])} long "
                f"with at least {MIN_PEER_VIEWS} views in the timeframe ({relative_math.MIN_PEERS} needed)")
    return RelativeResult(own, band, len(curves), candidates, result, note, relative_verdict(own, result, note))


def relative_verdict(own: stats.Engagement, result: relative_math.Relative | None, note: str | None) -> Verdict:
    """Per bucket and overall, does this content differ from the typical one? (docs/engagement.md,
    "Is the difference real?"); as for /compare, not below MIN_VIEWS_TO_TELL views."""
    if result is None:
        return Verdict(np.zeros(0, dtype=bool), None, None, note)
    if own.total_views < MIN_VIEWS_TO_TELL:
        return Verdict(np.zeros(0, dtype=bool), None, None, f"not enough views to tell (fewer than {MIN_VIEWS_TO_TELL})")
    return Verdict(holm(result.p_values), result.overall.average - result.overall.typical_average,
                   result.overall.p_value, None)


def relative_json(result: RelativeResult) -> dict:
    rel = result.relative
    overall = None if rel is None else {
        "average": rel.overall.average, "typical_average": rel.overall.typical_average,
        "ratio": rel.overall.ratio, "better_than": rel.overall.better_than,
    }
    return {
        "timeframe": list(result.own.timeframe),
        "data": {
            "total_views": result.own.total_views,
            "duration_ms": result.own.duration_ms,
            "value": result.own.values.tolist(),
            "typical": [] if rel is None else rel.typical.tolist(),
            "relative": [] if rel is None else rel.relative.tolist(),
            "overall": overall,
            "peers": result.peers,
            "candidates": result.candidates,
            "max_peers": MAX_PEERS,
            "band": None if result.band is None else {"min_ms": result.band[0], "max_ms": result.band[1]},
            "note": result.note,
            **verdict_json(result.verdict),
        },
    }


def verdict_json(verdict: Verdict) -> dict:
    return {
        "significant": verdict.significant.tolist(),
        "average_p_value": verdict.average_p_value,
        "average_significant": None if verdict.average_p_value is None else verdict.average_p_value < 1 - LEVEL,
        "verdict_note": verdict.note,
    }


# --- two curves side by side ---------------------------------------------------------

@dataclass(frozen=True)
class SideSpec:
    """One side of a comparison: its question, and its timeframe as asked (for its label)."""

    query: EngagementQuery
    timeframe: tuple[str, ...]

    @property
    def scope_id(self) -> str:
        return self.query.scope_id


@dataclass(frozen=True)
class Verdict:
    """Whether b differs from a beyond chance (engagement/uncertainty.py), or why it cannot be told."""

    significant: np.ndarray  # per bucket of a's grid: Holm's method, 5% family-wise; empty without a verdict
    average_difference: float | None  # b's average share viewed minus a's
    average_p_value: float | None
    note: str | None  # why there is no verdict (a side without views, too few views)


@dataclass(frozen=True)
class Comparison:
    a: stats.Engagement
    b: stats.Engagement
    a_spec: SideSpec
    b_spec: SideSpec
    b_on_a_grid: np.ndarray  # b's curve by relative position on a's buckets (b's own when a is empty)
    difference: np.ndarray  # b - a; empty when either side has no views
    verdict: Verdict


def check_comparable(store: Store, environment_id: str, scope: Scope, a_id: str, b_id: str) -> None:
    """Two playback IDs are compared only when they play the same asset (another asset is another
    content: compare assets for that). Existence is checked by the queries (404 first)."""
    if scope is not Scope.PLAYBACK_ID or a_id == b_id:
        return
    for playback_id in (a_id, b_id):
        if not store.scope_exists(environment_id, scope, playback_id):
            raise stats.UnknownScopeId(playback_id)
    a_asset = store.asset_for_playback_id(environment_id, a_id)
    b_asset = store.asset_for_playback_id(environment_id, b_id)
    if a_asset is None or b_asset is None or a_asset.asset_id != b_asset.asset_id:
        raise NotComparable(f"playback IDs {a_id!r} and {b_id!r} do not belong to the same registered asset; "
                            "compare two playback IDs of one asset, or compare assets")


def compare(store: Store, a: SideSpec, b: SideSpec, guard: Guard = UNGUARDED) -> Comparison:
    """Both curves on a's bucket grid and their difference b - a (two questions about one
    environment and kind: b is a.query.about(another id or window))."""
    check_comparable(store, a.query.environment.environment_id, a.query.scope, a.scope_id, b.scope_id)
    guard.charge(2)
    first, second = (stats.engagement(store, side.query) for side in (a, b))
    # Durations may differ (a video id's median, two assets): b is placed on a's grid by relative position.
    b_values = relative_math.resample(second.values, first.values.size) if first.values.size and second.values.size \
        else second.values
    difference = relative_math.difference(first.values, second.values)
    return Comparison(first, second, a, b, b_values, difference, verdict(first, second, b_values))


def verdict(a: stats.Engagement, b: stats.Engagement, b_on_a_grid: np.ndarray) -> Verdict:
    """Per bucket and overall, is b different from a? Below MIN_VIEWS_TO_TELL views on a side, no
    test is trusted to say (docs/engagement.md, "Is the difference real?")."""
    if not (a.total_views and b.total_views):
        return Verdict(np.zeros(0, dtype=bool), None, None, "a side has no views")
    if min(a.total_views, b.total_views) < MIN_VIEWS_TO_TELL:
        return Verdict(np.zeros(0, dtype=bool), None, None,
                       f"not enough views to tell (fewer than {MIN_VIEWS_TO_TELL} on a side)")
    per_bucket = difference_p_values(a.values, a.total_views, b_on_a_grid, b.total_views)
    a_average, b_average = float(a.values.mean()), float(b.values.mean())
    overall = float(difference_p_values(np.array([a_average]), a.total_views, np.array([b_average]),
                                        b.total_views)[0])
    return Verdict(holm(per_bucket), b_average - a_average, overall, None)


def _label(spec: SideSpec, other: SideSpec) -> str:
    """What tells this side from the other: its id, its timeframe, or both."""
    timeframe = "..".join(spec.timeframe) or "default timeframe"
    if spec.scope_id != other.scope_id and spec.timeframe != other.timeframe:
        return f"{spec.scope_id} ({timeframe})"
    return timeframe if spec.scope_id == other.scope_id else spec.scope_id


def _side_json(result: stats.Engagement, spec: SideSpec, other: SideSpec, values: np.ndarray) -> dict:
    return {"id": spec.scope_id, "label": _label(spec, other), "timeframe": list(result.timeframe),
            "total_views": result.total_views, "duration_ms": result.duration_ms, "value": values.tolist()}


def compare_json(result: Comparison) -> dict:
    return {
        "timeframe": list(result.a.timeframe),
        "data": {
            "duration_ms": result.a.duration_ms,
            "a": _side_json(result.a, result.a_spec, result.b_spec, result.a.values),
            "b": _side_json(result.b, result.b_spec, result.a_spec, result.b_on_a_grid),
            "difference": result.difference.tolist(),
            "average_difference": result.verdict.average_difference,
            **verdict_json(result.verdict),
        },
    }
