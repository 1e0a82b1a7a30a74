"""The hotspot evaluation (the quick run of `moments eval-hotspots`) and the real query path.

Fails if the detector regresses past the floors below (set a little under what the quick
run measures; docs/hotspots.md has the full run). Every moment shape is scored.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from moments import accounts, stats
from moments.engagement.heatmap import coverage_layers, heatmap
from moments.engagement.hotspots import Seeks, detect
from moments.lab.evaluation import report, scoring
from moments.lab.evaluation.audiences import SHAPES, curves, random_planted, simulate, truth
from moments.ingestion.imports import import_records
from moments.model import Scope
from moments.stats.query import EngagementQuery
from moments.store.duckdb import DuckDBStore


@pytest.fixture(scope="module")
def evaluation() -> report.Evaluation:
    return report.evaluate(report.QUICK)


def test_few_null_audiences_have_any_hotspot(evaluation):
    ours = scoring.summarise(evaluation.general["moments"])
    assert ours.null_audiences >= 200
    assert ours.alarm_rate <= 0.015, ours


# Floors per detector (target recall, precision, and recall of every shape's target moments):
# what the API serves, and the detector on the heatmap alone (no seek layers).
FLOORS = {"moments": (0.88, 0.80, 0.70), "moments, heatmap alone": (0.72, 0.85, 0.45)}


@pytest.mark.parametrize("name", FLOORS)
def test_target_moments_are_recalled_with_their_ranges(evaluation, name):
    recall, precision, _ = FLOORS[name]
    ours = scoring.summarise(evaluation.general[name], scoring.in_target)
    assert ours.moments >= 100
    assert ours.recall >= recall, ours
    assert ours.mean_iou >= 0.85, ours
    assert scoring.summarise(evaluation.general[name]).precision >= precision


@pytest.mark.parametrize("name", FLOORS)
@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_is_found(evaluation, name, shape):
    found = scoring.summarise(evaluation.general[name],
                              lambda m: m.moment.shape == shape and scoring.in_target(m))
    assert found.moments >= 10, shape
    assert found.recall >= FLOORS[name][2], (shape, found)


def test_the_seek_layers_find_what_the_heatmap_alone_misses(evaluation):
    served, alone = (scoring.summarise(evaluation.general[name], scoring.in_target) for name in FLOORS)
    assert served.recall >= alone.recall + 0.1, (served, alone)
    assert scoring.summarise(evaluation.general["moments"]).null_alarms <= \
        scoring.summarise(evaluation.general["moments, heatmap alone"]).null_alarms + 1


def test_the_alternatives_raise_more_false_alarms(evaluation):
    ours = scoring.summarise(evaluation.general["moments"])
    for name, scores in evaluation.general.items():
        if not name.startswith("moments"):
            theirs = scoring.summarise(scores)
            assert theirs.null_alarms > 3 * max(1, ours.null_alarms), name
            assert theirs.precision < ours.precision, name


def test_truth_is_the_realised_effect():
    """The planted moments move the curve where the truth says, and nowhere far from them."""
    audience = random_planted(np.random.default_rng(3), 3, n_views=(20_000, 20_000), effects=(0.2, 0.2))
    values, plain, _ = curves(audience)
    moments = truth(audience, values, plain)
    assert len(moments) == len(audience.moments)
    for m, planted in zip(moments, audience.moments):
        assert (m.effect > 0) == planted.peak and abs(m.effect) >= 2
    # Same draws: without moments the two curves are identical.
    assert np.array_equal(heatmap(simulate(audience, with_moments=False), audience.duration_ms), plain)


def test_the_real_query_path_gives_the_same_hotspots():
    """Import a random audience through the real import path into a DuckDB file: the API's
    hotspots are exactly the detector's on the simulated curve and seek layers (which the
    store sums from its rollups)."""
    audience = random_planted(np.random.default_rng(11), 11, n_views=(3000, 3000), effects=(0.15, 0.3))
    ranges = simulate(audience)
    now_ms = int(time.time() * 1000)
    records = []
    for v in range(ranges.n_views):
        mine = ranges.view_index == v
        records.append({"view_id": f"v{v}", "asset_id": "content", "view_start": now_ms - 3_600_000 + v,
                        "view_end": now_ms - 3_500_000 + v, "duration_ms": audience.duration_ms,
                        "ranges": [[int(s), int(e)] for s, e in zip(ranges.starts[mine], ranges.ends[mine])]})
    with tempfile.TemporaryDirectory() as folder:
        store = DuckDBStore(str(Path(folder) / "eval.duckdb"))
        environment, _ = accounts.create_environment(store, "eval")
        assert not import_records(store, environment.environment_id, records).rejected
        window = (now_ms // 1000 - 86_400, now_ms // 1000)
        result = stats.engagement(store, EngagementQuery(environment, Scope.ASSET, "content", window, (), now_ms, 3600), True)
        store.close()
    layers = coverage_layers(ranges, audience.duration_ms)
    expected = detect(heatmap(ranges, audience.duration_ms), audience.n_views, audience.duration_ms,
                      seeks=Seeks.from_coverage(layers, audience.n_views, audience.duration_ms))
    assert expected and result.hotspots == expected


def test_the_cli_writes_the_tables_between_the_markers(tmp_path):
    from click.testing import CliRunner

    from moments.cli import main

    doc = tmp_path / "hotspots.md"
    doc.write_text(f"# Before\n{report.BEGIN}\nold tables\n{report.END}\nAfter\n")
    outcome = CliRunner().invoke(main, ["eval-hotspots", "--quick", "--write", str(doc)])
    assert outcome.exit_code == 0, outcome.output
    text = doc.read_text()
    assert "old tables" not in text and text.startswith("# Before\n") and text.endswith("After\n")
    assert "| moments | " in text and "| gradual valley |" in text and "| moments | " in outcome.output
    bare = tmp_path / "bare.md"
    bare.write_text("no markers\n")
    assert CliRunner().invoke(main, ["eval-hotspots", "--quick", "--write", str(bare)]).exit_code != 0
    assert bare.read_text() == "no markers\n"


def test_seek_in_peaks_and_skipped_stretches(evaluation):
    """The shapes viewers make most (peaks they seek into and leave over seconds, stretches
    they skip), in plainer audiences: nearly all found, nothing found without them."""
    ours = evaluation.seek_and_skip["moments"]
    target = scoring.summarise(ours, scoring.in_target)
    assert target.moments >= 60
    assert target.recall >= 0.9 and target.mean_iou >= 0.8, target
    assert scoring.summarise(ours).null_alarms == 0
