"""Running sums of one scope's rollup rows, for any run of partitions in O(B), that a commit
updates by copying only what it changes.

Rows are kept in blocks of a day of partitions: each block holds its rows as they are, and
running sums run over whole blocks. A run of partitions is the blocks wholly inside it (one
subtraction of running sums) plus the rows of the two blocks at its ends. A delta to a few
partitions (a live view completing: the latest partition) copies the blocks it falls in and
the block sums, never the whole (about 40 MB for 30 days of 5-minute rows on 600 buckets).
Exact int64 throughout, like the rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from moments.store import rollups

BLOCK_MS = 86_400_000


@dataclass(frozen=True)
class Block:
    """One block's rows: partition starts (sorted), views and coverage of each."""

    partitions: np.ndarray  # (k,)
    n_views: np.ndarray  # (k,)
    coverage: np.ndarray  # (k, B)

    def between(self, start_ms: int, end_ms: int) -> tuple[int, np.ndarray]:
        a, b = np.searchsorted(self.partitions, [start_ms, end_ms])
        return int(self.n_views[a:b].sum()), self.coverage[a:b].sum(axis=0)

    def plus(self, partitions: np.ndarray, n_views: np.ndarray, coverage: np.ndarray) -> "Block":
        """This block with rows added (summed into rows of the same partition)."""
        merged = np.union1d(self.partitions, partitions)
        n, rows = np.zeros(merged.size, dtype=np.int64), np.zeros((merged.size, self.coverage.shape[1]), np.int64)
        mine, theirs = np.searchsorted(merged, self.partitions), np.searchsorted(merged, partitions)
        n[mine] += self.n_views
        rows[mine] += self.coverage
        np.add.at(n, theirs, n_views)
        np.add.at(rows, theirs, coverage)
        return Block(merged, n, rows)


@dataclass(frozen=True)
class RollupPrefix:
    """One scope's rollup rows of one coverage layer on one grid, in blocks of BLOCK_MS."""

    starts: np.ndarray  # block starts, sorted
    blocks: tuple[Block, ...]
    n_totals: np.ndarray  # (blocks,) views per block
    totals: np.ndarray  # (blocks, B) coverage per block
    n_cum: np.ndarray  # (blocks + 1,) running sums of n_totals
    coverage_cum: np.ndarray  # (blocks + 1, B) running sums of totals

    @classmethod
    def of(cls, rows: pa.Table, n_buckets: int, layer: str) -> "RollupPrefix":
        """From rows (partition_ms, n_views, and the layer's step_columns) in partition order."""
        coverage = np.zeros((rows.num_rows, n_buckets), dtype=np.int64)
        if rows.num_rows:
            buckets, steps = (rows[column].combine_chunks() for column in rollups.step_columns(layer))
            coverage[pc.list_parent_indices(buckets).to_numpy(), pc.list_flatten(buckets).to_numpy()] = \
                pc.list_flatten(steps).to_numpy()
            coverage = np.cumsum(coverage, axis=1)
        return cls.of_rows(rows["partition_ms"].to_numpy(), rows["n_views"].to_numpy(), coverage)

    @classmethod
    def of_rows(cls, partitions: np.ndarray, n_views: np.ndarray, coverage: np.ndarray) -> "RollupPrefix":
        """From rows as arrays: partition starts (sorted), views, and (rows, B) coverage."""
        n_buckets = coverage.shape[1]
        block_of = partitions // BLOCK_MS * BLOCK_MS
        starts, first = np.unique(block_of, return_index=True)
        bounds = np.append(first, partitions.size)
        blocks = tuple(Block(partitions[a:b], n_views[a:b], coverage[a:b]) for a, b in zip(bounds[:-1], bounds[1:]))
        return cls.of_blocks(starts, blocks, n_buckets)

    @classmethod
    def of_blocks(cls, starts: np.ndarray, blocks: tuple[Block, ...], n_buckets: int,
                  n_totals: np.ndarray | None = None, totals: np.ndarray | None = None) -> "RollupPrefix":
        if totals is None:
            n_totals = np.array([block.n_views.sum() for block in blocks], dtype=np.int64)
            totals = np.array([block.coverage.sum(axis=0) for block in blocks], dtype=np.int64).reshape(-1, n_buckets)
        zero = np.zeros((1, n_buckets), dtype=np.int64)
        return cls(starts, blocks, n_totals, totals, np.concatenate(([0], np.cumsum(n_totals))),
                   np.concatenate((zero, np.cumsum(totals, axis=0))))

    @property
    def nbytes(self) -> int:
        return sum(block.coverage.nbytes for block in self.blocks) + 2 * self.totals.nbytes

    def between(self, start_ms: int, end_ms: int) -> tuple[int, np.ndarray]:
        """(views, coverage) of the partitions starting in [start_ms, end_ms)."""
        first = int(np.searchsorted(self.starts, start_ms))  # blocks [first, last) lie inside
        last = max(first, int(np.searchsorted(self.starts, end_ms - BLOCK_MS, side="right")))
        n, coverage = int(self.n_cum[last] - self.n_cum[first]), self.coverage_cum[last] - self.coverage_cum[first]
        for k in {first - 1, last} & set(range(len(self.blocks))):  # the blocks at the ends, in part
            block_n, block_coverage = self.blocks[k].between(start_ms, end_ms)
            n, coverage = n + block_n, coverage + block_coverage
        return n, coverage

    def plus(self, partitions: np.ndarray, n_views: np.ndarray, coverage: np.ndarray) -> "RollupPrefix":
        """A new prefix with rows added (a commit's deltas: views and (rows, B) coverage by
        partition); copies only the blocks they fall in."""
        block_of = partitions // BLOCK_MS * BLOCK_MS
        starts = np.union1d(self.starts, block_of)
        n_buckets = self.totals.shape[1]
        old = np.searchsorted(starts, self.starts)
        blocks: list[Block | None] = [None] * starts.size
        n_totals, totals = np.zeros(starts.size, dtype=np.int64), np.zeros((starts.size, n_buckets), dtype=np.int64)
        for i, block in zip(old.tolist(), self.blocks):
            blocks[i] = block
        n_totals[old], totals[old] = self.n_totals, self.totals
        for start in np.unique(block_of).tolist():
            i, mine = int(np.searchsorted(starts, start)), block_of == start
            block = blocks[i]
            if block is None:
                block = Block(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, n_buckets), np.int64))
            blocks[i] = block.plus(partitions[mine], n_views[mine], coverage[mine])
            n_totals[i] += n_views[mine].sum()
            totals[i] += coverage[mine].sum(axis=0)
        return RollupPrefix.of_blocks(starts, tuple(blocks), n_buckets, n_totals, totals)
