"""One view's watch path (engagement/paths.py) against hand-made views."""

from __future__ import annotations

from moments.engagement.paths import (Ending, Play, Seek, ending_text, step_text, union_ms, watch_path)


def mm_ss(ms: int) -> str:
    return f"{ms // 60_000}:{ms // 1000 % 60:02d}"


def test_the_readme_view_plays_seeks_forward_then_back_and_leaves():
    # The import example: 0-1:35, then 5:00-7:00, then back to 1:00-1:30, of 30 minutes.
    path = watch_path([(0, 95_000), (300_000, 420_000), (60_000, 90_000)], 1_800_000, in_progress=False)
    assert path.steps == (Play(0, 95_000), Seek(95_000, 300_000), Play(300_000, 420_000),
                          Seek(420_000, 60_000), Play(60_000, 90_000))
    assert [s.direction for s in path.steps if isinstance(s, Seek)] == ["forward", "backward"]
    assert path.seeks == 2
    assert path.ending == Ending("left", 90_000)  # where the last stretch stopped, not the furthest point
    assert path.watched_ms == 95_000 + 120_000 + 30_000
    assert path.unique_watched_ms == 95_000 + 120_000  # 1:00-1:30 was watched already
    assert [step_text(s, mm_ss) for s in path.steps] == [
        "0:00-1:35 play", "seek 1:35 -> 5:00 (forward)", "5:00-7:00 play", "seek 7:00 -> 1:00 (backward)",
        "1:00-1:30 play"]
    assert ending_text(path.ending, mm_ss) == "left at 1:30"


def test_touching_ranges_are_one_stretch_of_play():
    # Players cut ranges at pauses: 0-10 s, 10.1-20 s and 19.9-30 s are one play; 31 s is a seek.
    path = watch_path([(0, 10_000), (10_100, 20_000), (19_900, 30_000), (31_000, 40_000)], 60_000, False)
    assert path.steps == (Play(0, 30_000), Seek(30_000, 31_000), Play(31_000, 40_000))
    # With multiplicity 39 s; each moment once 38.9 s (10.0-10.1 s was skipped, 19.9-20 s played twice).
    assert path.seeks == 1 and path.watched_ms == 39_000 and path.unique_watched_ms == 38_900


def test_completed_within_one_bucket_of_the_end():
    # 60 s content: 60 buckets of 1 s. Ending at 59.0 s completes; at 58.9 s leaves.
    assert watch_path([(0, 59_000)], 60_000, False).ending == Ending("completed", 59_000)
    assert watch_path([(0, 58_900)], 60_000, False).ending == Ending("left", 58_900)
    # 2 h content: 1000 buckets of 7.2 s.
    assert watch_path([(0, 7_192_800)], 7_200_000, False).ending.kind == "completed"
    assert watch_path([(0, 7_192_799)], 7_200_000, False).ending.kind == "left"
    # Watching the end, then seeking back and stopping there, is leaving.
    assert watch_path([(50_000, 60_000), (0, 5_000)], 60_000, False).ending == Ending("left", 5_000)


def test_in_progress_unknown_duration_and_nothing_played():
    assert watch_path([(0, 60_000)], 60_000, in_progress=True).ending == Ending("in_progress", 60_000)
    assert ending_text(Ending("in_progress", 3_000), mm_ss) == "in progress (at 0:03)"
    assert watch_path([(0, 60_000)], 0, False).ending == Ending("left", 60_000)  # no duration: no "completed"
    empty = watch_path([], 60_000, False)
    assert empty.steps == () and empty.ending == Ending("not_played", None) and empty.seeks == 0
    assert empty.watched_ms == empty.unique_watched_ms == 0 and ending_text(empty.ending, mm_ss) == "never played"
    assert watch_path([], 60_000, True).ending == Ending("in_progress", None)
    assert ending_text(Ending("completed", 60_000), mm_ss) == "completed"


def test_union_counts_each_moment_once():
    assert union_ms([(0, 10), (5, 15), (20, 30), (21, 22), (30, 31)]) == 26
    assert union_ms([(5, 5), (9, 3)]) == 0
