"""The raw side of a coverage query, picked out of cached pieces in numpy.

A piece is what one raw read returned (the views of some ids starting in one partition, or
their views in progress), kept as arrays: a query's window and idleness select its counted
views with a mask, with no SQL and no per-call Arrow dispatch (a request asks for two or three
pieces, so their cost is per call, not per view).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from moments.model import RangeSet

NEVER = np.iinfo(np.int64).max  # the receipt time of a view that has none: never idle
NO_VIEWS = RangeSet(n_views=0, view_index=np.zeros(0, np.int64), starts=np.zeros(0, np.int64),
                    ends=np.zeros(0, np.int64), reported_durations_ms=np.zeros(0, np.int64))


@dataclass(frozen=True)
class Piece:
    """Candidate views: the id each counts for (`sid`, an index into `ids`), its start, whether
    it is still in progress and when it was last received, and its ranges."""

    ids: np.ndarray  # (I,) str
    sid: np.ndarray  # (V,)
    start: np.ndarray  # (V,)
    open: np.ndarray  # (V,) bool
    received: np.ndarray  # (V,)
    ranges: RangeSet

    @classmethod
    def of(cls, table: pa.Table) -> "Piece":
        """From rows of sid, view_start_ms, open, received_at_ms, range_starts, range_ends, duration_ms."""
        ids, sid = np.unique(table["sid"].to_numpy(zero_copy_only=False).astype(str), return_inverse=True)
        ranges = range_set_from_arrow(table)
        return cls(ids, sid.astype(np.int64), table["view_start_ms"].to_numpy().astype(np.int64),
                   table["open"].to_numpy(zero_copy_only=False).astype(bool),
                   table["received_at_ms"].fill_null(NEVER).to_numpy().astype(np.int64), ranges)

    @property
    def nbytes(self) -> int:
        r = self.ranges
        return (self.sid.nbytes + self.start.nbytes + self.open.nbytes + self.received.nbytes + r.view_index.nbytes
                + r.starts.nbytes + r.ends.nbytes + r.reported_durations_ms.nbytes)

    def counted(self, start_ms: int, end_ms: int, idle_before_ms: int) -> np.ndarray:
        """Which views count: starting in [start_ms, end_ms), and closed or idle."""
        return (self.start >= start_ms) & (self.start < end_ms) & (~self.open | (self.received < idle_before_ms))


def range_set_from_arrow(table: pa.Table) -> RangeSet:
    """The ranges of rows with range_starts, range_ends (lists) and duration_ms."""
    starts_col = table.column("range_starts").combine_chunks()
    ends_col = table.column("range_ends").combine_chunks()
    return RangeSet(
        n_views=table.num_rows,
        view_index=pc.list_parent_indices(starts_col).to_numpy(zero_copy_only=False).astype(np.int64),
        starts=pc.list_flatten(starts_col).to_numpy(zero_copy_only=False).astype(np.int64),
        ends=pc.list_flatten(ends_col).to_numpy(zero_copy_only=False).astype(np.int64),
        reported_durations_ms=table.column("duration_ms").to_numpy().astype(np.int64),
    )


def subset(ranges: RangeSet, keep: np.ndarray) -> RangeSet:
    """The views where `keep` holds, in order, with their ranges."""
    kept_ranges = keep[ranges.view_index]
    renumbered = np.cumsum(keep) - 1
    return RangeSet(n_views=int(keep.sum()), view_index=renumbered[ranges.view_index[kept_ranges]],
                    starts=ranges.starts[kept_ranges], ends=ranges.ends[kept_ranges],
                    reported_durations_ms=ranges.reported_durations_ms[keep])


def concatenated(parts: list[RangeSet]) -> RangeSet:
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return NO_VIEWS
    offsets = np.cumsum([0] + [part.n_views for part in parts])
    return RangeSet(n_views=int(offsets[-1]),
                    view_index=np.concatenate([part.view_index + offset for part, offset in zip(parts, offsets)]
                                              + [np.zeros(0, np.int64)]),
                    starts=np.concatenate([part.starts for part in parts] + [np.zeros(0, np.int64)]),
                    ends=np.concatenate([part.ends for part in parts] + [np.zeros(0, np.int64)]),
                    reported_durations_ms=np.concatenate([part.reported_durations_ms for part in parts]
                                                         + [np.zeros(0, np.int64)]))


def ranges_by_id(picked: Iterable[tuple[Piece, np.ndarray]], scope_ids: Iterable[str]) -> dict[str, RangeSet]:
    """Each id's counted views, out of pieces with the masks of their counted views."""
    picked = list(picked)
    out = {}
    for scope_id in scope_ids:
        parts = []
        for piece, mask in picked:
            code = np.searchsorted(piece.ids, scope_id)
            if code < piece.ids.size and piece.ids[code] == scope_id:
                mine = mask & (piece.sid == code)
                if mine.any():
                    parts.append(subset(piece.ranges, mine))
        out[scope_id] = concatenated(parts)
    return out
