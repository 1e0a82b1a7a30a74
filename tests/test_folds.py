"""View folds: adding events in any order, any number of times, gives one fold, the one a
plain whole-history computation gives (ingestion/folds.py)."""

from __future__ import annotations

import random
import statistics

from hypothesis import given, settings
from hypothesis import strategies as st

from moments.ingestion import encoding
from moments.ingestion.folds import (CLOCK_OFFSET, KEPT_FIELDS, MAX_EVENTS_PER_VIEW, MAX_OFFSETS,
                                     MAX_SEQUENCE_GAP, MAX_SEQUENCE_RUNS, RECEIVED_AT, ViewFold, epoch_ms,
                                     fold_events)
from moments.ingestion.views import view_from_fold
from moments.model import CUSTOM_FIELDS, BeaconEvent

VALUES = st.one_of(st.none(), st.integers(-10, 10**13), st.text(max_size=8), st.booleans())
FIELDS = st.fixed_dictionaries({}, optional={
    "video_playback_range": st.sampled_from(['["0:1000"]', '["0:1000","5000:9000"]', '["0:60000"]', "x"]),
    "video_id": st.sampled_from(["a", "b"]), "viewer_time": st.integers(1_700_000_000_000, 1_700_000_100_000),
    RECEIVED_AT: st.integers(1_700_000_000_000, 1_700_000_100_000), CLOCK_OFFSET: st.integers(-10**6, 10**6),
    "custom_3": VALUES, "player_name": VALUES, "not_kept": VALUES, "video_source_duration": st.just(60_000),
})
EVENTS = st.lists(st.builds(lambda seq, name, fields: BeaconEvent("v", seq, name, fields),
                            st.integers(0, 40), st.sampled_from(["viewstart", "playing", "pause", "viewend"]), FIELDS),
                  min_size=1, max_size=40)


def whole_history(events: list[BeaconEvent]) -> dict:
    """What the fold stands for, computed from all events at once: the first copy of each
    sequence number, fields carried forward in sequence order."""
    first = {}
    for event in events:
        first.setdefault(event.sequence, event)
    ordered = [first[s] for s in sorted(first)]
    state = {}
    for event in ordered:
        state.update({k: v for k, v in event.fields.items() if k in KEPT_FIELDS or k in CUSTOM_FIELDS})
    times = [(e.sequence, t) for e in ordered if (t := epoch_ms(e.fields.get("viewer_time"))) is not None]
    ends = [(e.sequence, epoch_ms(e.fields.get("viewer_time"))) for e in ordered if e.name == "viewend"]
    offsets = [e.fields[CLOCK_OFFSET] for e in ordered if CLOCK_OFFSET in e.fields][:MAX_OFFSETS]
    return {"state": state, "first_time": list(times[0]) if times else None,
            "last_time": max((t for _, t in times), default=None), "end": list(ends[0]) if ends else None,
            "offset": statistics.median(offsets) if offsets else None, "events": len(ordered)}


def summary(fold: ViewFold) -> dict:
    offsets = [o for _, o in fold.offsets]
    return {"state": fold.state(), "first_time": fold.first_time, "last_time": fold.last_time, "end": fold.end,
            "offset": statistics.median(offsets) if offsets else None, "events": fold.events}


@settings(max_examples=300, deadline=None)
@given(events=EVENTS, seed=st.integers(0, 2**32))
def test_any_order_and_any_repeats_give_the_whole_history_fold(events, seed):
    shuffled = events * 2
    random.Random(seed).shuffle(shuffled)
    in_order, disordered = fold_events(events), fold_events(shuffled)
    # Repeats of a sequence number may carry other values: the first copy received wins, so
    # only the order of first copies matters. Compare with that order's whole history.
    firsts = list({e.sequence: e for e in reversed(shuffled)}.values())
    assert summary(disordered) == whole_history(sorted(firsts, key=shuffled.index))
    if len({(e.sequence) for e in events}) == len(events):  # no two events share a sequence
        assert disordered == in_order and view_from_fold("v", disordered) == view_from_fold("v", in_order)
    assert ViewFold.from_json(disordered.to_json()) == disordered


@given(events=EVENTS)
def test_adding_an_event_again_changes_nothing(events):
    fold = fold_events(events)
    before = fold.to_json()
    assert all(fold.add(e) == "duplicate" for e in events) and fold.to_json() == before


def test_a_view_takes_no_events_past_its_caps():
    fold = ViewFold()
    assert all(fold.add(BeaconEvent("v", 2 * i, "hb", {})) == "new" for i in range(MAX_SEQUENCE_RUNS))
    assert fold.add(BeaconEvent("v", 2 * MAX_SEQUENCE_RUNS + 10, "hb", {})) == "over_cap"  # one run too many
    assert fold.add(BeaconEvent("v", 1, "hb", {})) == "new"  # joins two runs: fewer, not more
    assert fold.events == MAX_SEQUENCE_RUNS + 1 and len(fold.runs) == MAX_SEQUENCE_RUNS - 1
    full = fold_events(BeaconEvent("v", i, "hb", {}) for i in range(MAX_EVENTS_PER_VIEW))
    assert full.add(BeaconEvent("v", MAX_EVENTS_PER_VIEW, "hb", {"video_id": "late"})) == "over_cap"
    assert full.events == MAX_EVENTS_PER_VIEW and "video_id" not in full.state() and full.runs == [[0, MAX_EVENTS_PER_VIEW - 1]]



def test_an_event_numbered_far_past_the_highest_taken_is_refused():
    fold = ViewFold()
    assert fold.add(BeaconEvent("v", MAX_SEQUENCE_GAP + 1, "hb", {"video_id": "forged"})) == "far_ahead"
    assert fold.add(BeaconEvent("v", 1, "viewstart", {"video_id": "real"})) == "new"
    assert fold.add(BeaconEvent("v", 2**31 - 1, "hb", {"video_id": "forged"})) == "far_ahead"
    assert fold.add(BeaconEvent("v", 1 + MAX_SEQUENCE_GAP, "hb", {"video_id": "later"})) == "new"  # a gap, not a leap
    assert fold.state()["video_id"] == "later" and fold.events == 2


@given(value=st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2**100, 2**100),
                                    st.floats(allow_nan=False, allow_infinity=False),
                                    st.text(st.characters(codec=None))),
                          lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
                          max_leaves=12))
def test_records_read_back_exactly_what_was_written(value):
    """orjson where it can, the standard library where it cannot (big integers, lone surrogates)."""
    assert encoding.loads(encoding.dumps(value)) == value
    assert encoding.loads(encoding.dumps(value).encode()) == value
