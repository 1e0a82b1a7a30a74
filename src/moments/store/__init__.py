"""Storage backends behind one interface (`moments.store.base.Store`)."""

from __future__ import annotations

from moments.store.base import Store


def open_store(url_or_path: str) -> Store:
    """Open a store from `duckdb:///path` or a plain file path (DuckDB, the default)."""
    from moments.store.duckdb import DuckDBStore

    if url_or_path.startswith("duckdb://"):
        return DuckDBStore(url_or_path.removeprefix("duckdb://"))
    if "://" in url_or_path:
        raise ValueError(f"unsupported store URL: {url_or_path!r} (supported: duckdb:///path)")
    return DuckDBStore(url_or_path)
