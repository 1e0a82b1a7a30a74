"""A view's beacon events, folded: everything assembly needs of them, in bounded space.

mux-embed sends each field only when it changes (a delta), events may arrive twice, late or
out of order, and one view's events may be split over many POSTs and processes. A fold keeps,
for each field assembly reads, the value of the highest-sequence event that carried it, plus
the few per-event facts assembly reads (first and latest client time, the `viewend` event,
clock offsets) and which sequence numbers it has seen. Adding an event is O(its keys), never
O(the view's events), and the result does not depend on the order events are added in:

    fold(A then B) == fold(B then A),  fold(A then A) == fold(A)

so a batch can be applied again after a crash and change nothing. Past MAX_EVENTS_PER_VIEW events (or MAX_SEQUENCE_RUNS gaps
between the sequence numbers seen), a view takes no more events: they are counted as over
the cap and dropped, and the view keeps what it had.

Anyone who knows a view's id can send events for it (the beacon door is open to any page
holding the env key). A sequence number decides which value of a field wins, so one forged
event numbered 2**31 - 1 would outrank every genuine event to come. The SDK numbers a view's
events 1, 2, 3, ...: an event numbered more than MAX_SEQUENCE_GAP past the highest one taken
(past MAX_SEQUENCE_GAP for a view's first event) is refused as `far_ahead`. That rule depends
on what came first, so the assembler adds a batch's events in sequence order: the refused
ones then stay refused when the batch is applied again, and the folds above are equal for
any order of events whose numbers are never that far apart (a genuine view's).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Iterable

from moments.ingestion import encoding
from moments.ingestion.imports import MAX_EPOCH_MS, MIN_EPOCH_MS
from moments.model import CUSTOM_FIELDS, BeaconEvent

# Keys the collector adds to each event (the SDK never sends keys starting with '_').
RECEIVED_AT = "_received_at_ms"
CLOCK_OFFSET = "_clock_offset_ms"
BROWSER, OS, DEVICE_TYPE = "_browser", "_os", "_device_type"

# The fields assembly reads (ingestion/views.py): nothing else of an event is kept.
KEPT_FIELDS = frozenset({
    "view_start", "video_source_duration", "video_duration", "video_playback_range", "video_source_url",
    "video_source_is_live", "video_id", "player_name", "player_software_name", "player_software_version",
    "mux_embed", "mux_embed_version", "player_mux_plugin_name", "player_mux_plugin_version",
    BROWSER, OS, DEVICE_TYPE,
})

# A 3-hour view sends a few thousand events; a live stream left playing for a day, ~10,000.
MAX_EVENTS_PER_VIEW = 20_000
# Sequence numbers come in order with few gaps; many gaps mean a client inventing them.
MAX_SEQUENCE_RUNS = 256
# A gap this large means about 3 hours of heartbeats lost in a row; a jump past it, an invention.
MAX_SEQUENCE_GAP = 1_000
# The clock offset is the median of the first events' offsets (one per POST they came in).
MAX_OFFSETS = 64


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def epoch_ms(value: Any) -> int | None:
    """A wall-clock time in the range imports accept (2000..2100), else None: a client's
    clock value outside it is noise, and would overflow the store's 64-bit columns."""
    ms = as_int(value)
    return ms if ms is not None and MIN_EPOCH_MS <= ms <= MAX_EPOCH_MS else None


@dataclass
class ViewFold:
    """The folded events of one view. `fields[key] = [sequence, value]`; pairs `[sequence, x]`
    keep the x of the lowest sequence; `runs` are the sorted, disjoint [first, last] sequence
    runs seen."""

    fields: dict[str, list] = field(default_factory=dict)
    first_time: list | None = None  # [sequence, viewer_time] of the earliest event carrying one
    last_time: int | None = None  # the latest viewer_time of any event
    first_received: list | None = None  # [sequence, server receive time]
    end: list | None = None  # [sequence, viewer_time or None] of the first viewend event
    offsets: list[list[int]] = field(default_factory=list)  # [sequence, clock offset], lowest sequences
    runs: list[list[int]] = field(default_factory=list)
    events: int = 0

    def has(self, sequence: int) -> bool:
        at = bisect.bisect_right(self.runs, [sequence, float("inf")]) - 1
        return at >= 0 and self.runs[at][0] <= sequence <= self.runs[at][1]

    def add(self, event: BeaconEvent) -> str:
        """Fold one event in: 'new', 'duplicate' (its sequence was seen: the first copy wins),
        'far_ahead' (numbered more than MAX_SEQUENCE_GAP past the highest taken) or 'over_cap'."""
        if self.has(event.sequence):
            return "duplicate"
        if event.sequence > (self.runs[-1][1] if self.runs else 0) + MAX_SEQUENCE_GAP:
            return "far_ahead"
        if self.events >= MAX_EVENTS_PER_VIEW or not self._mark(event.sequence):
            return "over_cap"
        self.events += 1
        sequence, viewer_time = event.sequence, epoch_ms(event.fields.get("viewer_time"))
        for key, value in event.fields.items():
            if key in KEPT_FIELDS or key in CUSTOM_FIELDS:
                held = self.fields.get(key)
                if held is None or sequence > held[0]:
                    self.fields[key] = [sequence, value]
        if viewer_time is not None:
            self.first_time = _lowest(self.first_time, sequence, viewer_time)
            self.last_time = viewer_time if self.last_time is None else max(self.last_time, viewer_time)
        received = as_int(event.fields.get(RECEIVED_AT))
        if received is not None:
            self.first_received = _lowest(self.first_received, sequence, received)
        if event.name == "viewend":
            self.end = _lowest(self.end, sequence, viewer_time)
        offset = as_int(event.fields.get(CLOCK_OFFSET))
        if offset is not None:
            bisect.insort(self.offsets, [sequence, offset])
            del self.offsets[MAX_OFFSETS:]
        return "new"

    def _mark(self, sequence: int) -> bool:
        """Record `sequence` as seen, joining neighbouring runs; False when it would need a run too many."""
        at = bisect.bisect_right(self.runs, [sequence, float("inf")])
        joins_left = at > 0 and self.runs[at - 1][1] == sequence - 1
        joins_right = at < len(self.runs) and self.runs[at][0] == sequence + 1
        if joins_left and joins_right:
            self.runs[at - 1][1] = self.runs.pop(at)[1]
        elif joins_left:
            self.runs[at - 1][1] = sequence
        elif joins_right:
            self.runs[at][0] = sequence
        elif len(self.runs) >= MAX_SEQUENCE_RUNS:
            return False
        else:
            self.runs.insert(at, [sequence, sequence])
        return True

    def state(self) -> dict[str, Any]:
        """The carried-forward fields: each the value its latest event gave it."""
        return {key: value for key, (_, value) in self.fields.items()}

    def to_json(self) -> str:
        return encoding.dumps([self.fields, self.first_time, self.last_time, self.first_received, self.end,
                               self.offsets, self.runs, self.events])

    @classmethod
    def from_json(cls, text: str) -> "ViewFold":
        return cls(*encoding.loads(text))


def _lowest(held: list | None, sequence: int, value: Any) -> list:
    return [sequence, value] if held is None or sequence < held[0] else held


def fold_events(events: Iterable[BeaconEvent]) -> ViewFold:
    """A new fold of `events`."""
    fold = ViewFold()
    for event in events:
        fold.add(event)
    return fold
