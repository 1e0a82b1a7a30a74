"""store/prefix.py: any run of partitions sums exactly the rows in it, before and after deltas
are added (blocks copied, new blocks, rows summed into existing partitions)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from moments.store import rollups
from moments.store.prefix import BLOCK_MS, RollupPrefix

B = 7
GRAIN = rollups.PARTITION_MS


def rows_table(partitions: np.ndarray, n_views: np.ndarray, coverage: np.ndarray) -> pa.Table:
    """Rows as the store reads them: the watched layer's steps (first differences) per row."""
    steps = np.diff(coverage, axis=1, prepend=0)
    buckets = [np.flatnonzero(row).tolist() for row in steps]
    columns = rollups.step_columns("watched")
    return pa.table({"partition_ms": partitions, "n_views": n_views,
                     columns[0]: buckets, columns[1]: [row[np.flatnonzero(row)].tolist() for row in steps]})


def brute(partitions, n_views, coverage, start, end) -> tuple[int, np.ndarray]:
    inside = (partitions >= start) & (partitions < end)
    return int(n_views[inside].sum()), coverage[inside].sum(axis=0)


def windows(rng, span: int) -> list[tuple[int, int]]:
    out = [(0, span), (BLOCK_MS, 2 * BLOCK_MS), (BLOCK_MS + GRAIN, BLOCK_MS + 2 * GRAIN), (5, 5)]
    for _ in range(60):
        a, b = sorted(int(x) for x in rng.integers(-BLOCK_MS, span + BLOCK_MS, 2))
        out.append((a // GRAIN * GRAIN if rng.random() < 0.5 else a, b))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_runs_of_partitions_sum_exactly_before_and_after_deltas(seed):
    rng = np.random.default_rng(seed)
    span = 4 * BLOCK_MS
    partitions = np.unique(rng.integers(0, span // GRAIN, 300)) * GRAIN
    n_views = rng.integers(1, 50, partitions.size)
    coverage = rng.integers(0, 10**9, (partitions.size, B))
    prefix = RollupPrefix.of(rows_table(partitions, n_views, coverage), B, "watched")
    for start, end in windows(rng, span):
        n, c = prefix.between(start, end)
        expected_n, expected_c = brute(partitions, n_views, coverage, start, end)
        assert n == expected_n and np.array_equal(c, expected_c), (start, end)

    # Deltas into existing partitions, new partitions, and a block that did not exist.
    added = np.concatenate([rng.choice(partitions, 5), [span + 3 * GRAIN, span + 3 * GRAIN, 17 * GRAIN]])
    added_n = rng.integers(-1, 3, added.size)
    added_c = rng.integers(-10**6, 10**6, (added.size, B))
    patched = prefix.plus(added, added_n, added_c)
    every = np.concatenate([partitions, added])
    every_n, every_c = np.concatenate([n_views, added_n]), np.concatenate([coverage, added_c])
    for start, end in windows(rng, span + BLOCK_MS):
        n, c = patched.between(start, end)
        expected_n, expected_c = brute(every, every_n, every_c, start, end)
        assert n == expected_n and np.array_equal(c, expected_c), (start, end)
        assert prefix.between(start, end)[0] == brute(partitions, n_views, coverage, start, end)[0]  # unchanged


def test_an_empty_prefix_sums_to_nothing_and_takes_rows():
    empty = RollupPrefix.of(rows_table(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, B), np.int64)),
                            B, "watched")
    n, c = empty.between(0, 10 * BLOCK_MS)
    assert n == 0 and not c.any() and c.shape == (B,)
    grown = empty.plus(np.array([GRAIN]), np.array([2]), np.ones((1, B), np.int64))
    assert grown.between(0, BLOCK_MS)[0] == 2 and grown.between(2 * GRAIN, BLOCK_MS)[0] == 0
