"""Storage backends behind one interface (`moments.store.base.Store`)."""

from __future__ import annotations

from moments.store.base import Store

SUPPORTED = "duckdb:///path, chdb:///path/to/dir, clickhouse://user:pass@host:8123/database"


class StoreUnavailable(ValueError):
    """The store named by a URL cannot be opened (missing package, unreachable server, ...)."""


def open_store(url_or_path: str) -> Store:
    """Open a store from a URL or a plain file path (DuckDB, the default).

    - `duckdb:///path` or `path`: the embedded DuckDB file;
    - `chdb:///path/to/dir`: the ClickHouse store on the in-process ClickHouse engine (chdb);
    - `clickhouse://user:pass@host:8123/database[?setting=value...]` (`clickhouses://` for TLS):
      the ClickHouse store on a server or cluster, over HTTP (clickhouse-connect).
    """
    if url_or_path.startswith("duckdb://"):
        from moments.store.duckdb import DuckDBStore

        return DuckDBStore(url_or_path.removeprefix("duckdb://"))
    if url_or_path.startswith(("chdb://", "clickhouse://", "clickhouses://")):
        return _open_clickhouse(url_or_path)
    if "://" in url_or_path:
        raise ValueError(f"unsupported store URL: {url_or_path!r} (supported: {SUPPORTED})")
    from moments.store.duckdb import DuckDBStore

    return DuckDBStore(url_or_path)


def _open_clickhouse(url: str) -> Store:
    from moments.store.clickhouse import ClickHouseStore
    from moments.store.executor import ChdbExecutor, ConnectExecutor

    try:
        if url.startswith("chdb://"):
            path = url.removeprefix("chdb://")
            if not path or path == "/":
                raise StoreUnavailable("chdb:// needs a directory: chdb:///path/to/dir")
            executor = ChdbExecutor(path)
        else:
            executor = ConnectExecutor.from_url(url)
    except ImportError as error:
        extra = "chdb" if url.startswith("chdb://") else "clickhouse"
        raise StoreUnavailable(f"{error.name or error} is not installed: pip install 'moments[{extra}]'") from None
    except StoreUnavailable:
        raise
    except Exception as error:  # the engine's or the HTTP client's error: cannot connect, bad path, ...
        raise StoreUnavailable(str(error).strip().splitlines()[0] if str(error).strip() else repr(error)) from error
    try:  # a chdb folder is this process's alone (the engine locks it): the store owns it
        return ClickHouseStore(executor, owner=isinstance(executor, ChdbExecutor))
    except Exception:
        executor.close()
        raise
