"""Reading many views without holding them all: keyset pages by (view_start_ms, view_id)."""

from __future__ import annotations

from typing import Callable, Iterator

import pyarrow as pa

EXPORT_BATCH_ROWS = 20_000  # views per page of an export: a few MB of Arrow at most
# The rows that sort after a page's last (view_start_ms, view_id), oldest first.
KEYSET_AFTER = "(view_start_ms > {start} OR (view_start_ms = {start} AND view_id > {view}))"
# The same for listings newest first (Store.list_views): the rows that sort before it.
KEYSET_BEFORE = "(view_start_ms < {start} OR (view_start_ms = {start} AND view_id < {view}))"


def budgeted_page_sql(source: str, where: str, limit: str, max_ranges: str) -> str:
    """The view ids of a listing page, newest first (Store.list_views): of the first `limit` rows
    of `source` under `where`, those that fewer than `max_ranges` ranges precede. A page of long
    views holds fewer of them, so no page costs more than about `max_ranges` ranges to read."""
    return (f"SELECT view_id FROM (SELECT view_id, sum(n) OVER (ORDER BY view_start_ms DESC, view_id DESC "
            f"ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before FROM (SELECT view_start_ms, view_id, "
            f"length(range_starts) AS n FROM {source} WHERE {where} ORDER BY view_start_ms DESC, view_id DESC "
            f"LIMIT {limit})) WHERE coalesce(before, 0) < {max_ranges}")


def keyset_pages(fetch: Callable[[tuple[int, str] | None], pa.Table], batch_rows: int) -> Iterator[pa.Table]:
    """Pages of `fetch(after)` (at most batch_rows rows, ordered by view_start_ms, view_id) until one is short.

    Each page is its own query, so no lock or cursor is held between pages, and a view
    written meanwhile is seen once or not at all, never twice."""
    after = None
    while True:
        page = fetch(after)
        if page.num_rows:
            yield page
        if page.num_rows < batch_rows:
            return
        after = (page["view_start_ms"][-1].as_py(), page["view_id"][-1].as_py())
