"""How the ClickHouse store reaches a ClickHouse engine: one thin executor per transport.

The store (`store/clickhouse.py`) speaks ClickHouse SQL with server-side parameters
(`{name:Type}` placeholders) and exchanges rows as Arrow. An executor only carries that
across: a statement with its parameters, a query returning an Arrow table, an Arrow table
to insert. Two transports:

- `ConnectExecutor`: `clickhouse-connect`, the HTTP client, for a ClickHouse server or
  cluster (`clickhouse://user:pass@host:8123/database`). clickhouse-connect binds the
  parameters itself.
- `ChdbExecutor`: `chdb`, the ClickHouse engine in-process (`chdb:///path/to/dir`).
  Parameters are sent as text in ClickHouse's escaped format by `encode_param`, the same
  text clickhouse-connect sends over HTTP (tests/test_store_contract.py checks both agree).

Every statement the store issues, schema included, goes through one of these.
"""

from __future__ import annotations

import io
import threading
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

import pyarrow as pa


class Executor(Protocol):
    engine_version: str

    def command(self, sql: str, params: dict[str, Any] | None = None) -> None:
        """Run a statement that returns nothing (DDL, DELETE, INSERT ... SELECT)."""

    def query(self, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
        """Run a query; the result as an Arrow table."""

    def insert(self, table: str, data: pa.Table) -> None:
        """Insert the rows of an Arrow table into `table` (columns matched by name)."""

    def close(self) -> None: ...


_ESCAPES = {"\\": "\\\\", "'": "\\'", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0", "\b": "\\b",
            "\f": "\\f"}


def _escape(text: str) -> str:
    return "".join(_ESCAPES.get(c, c) for c in text)


def encode_param(value: Any, top_level: bool = True) -> str:
    """A query parameter as ClickHouse parses `param_NAME` values: the escaped text format at
    the top level (strings unquoted, NULL as \\N), SQL literals inside arrays."""
    if value is None:
        return "\\N" if top_level else "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _escape(value) if top_level else f"'{_escape(value)}'"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "[" + ", ".join(encode_param(v, False) for v in value) + "]"
    raise TypeError(f"cannot send {type(value).__name__} as a query parameter")


def _arrow_stream(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _columns(table: pa.Table) -> str:
    return ", ".join(f"`{name}`" for name in table.column_names)


class ChdbExecutor:
    """The ClickHouse engine in this process (chdb), on a data directory.

    chdb hosts one engine per process; its connection is used by one thread at a time.
    """

    def __init__(self, path: str, settings: dict[str, str] | None = None) -> None:
        from chdb import session

        self.path = path
        self._session = session.Session(path)
        self._lock = threading.Lock()
        self._settings = dict(settings or {})
        # Inserts are visible when the call returns (chdb turns async inserts on by default).
        self._settings.setdefault("async_insert", "0")
        for name, value in self._settings.items():
            self.command(f"SET {name} = {encode_param(value, top_level=False)}")
        self.engine_version = self.query("SELECT version() AS v")["v"][0].as_py()

    def command(self, sql: str, params: dict[str, Any] | None = None) -> None:
        self._run(sql, params, "CSV")

    def query(self, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
        return self._run(sql, params, "ArrowTable")

    def _run(self, sql: str, params: dict[str, Any] | None, fmt: str):
        encoded = {name: encode_param(value) for name, value in (params or {}).items()}
        with self._lock:
            return self._session.query(sql, fmt, params=encoded or None)

    def insert(self, table: str, data: pa.Table) -> None:
        if data.num_rows == 0:
            return
        payload = _arrow_stream(data)
        with self._lock:
            with self._session.send_insert(f"INSERT INTO {table} ({_columns(data)})", "ArrowStream") as inserter:
                inserter.append(payload)
                inserter.finish()

    def close(self) -> None:
        with self._lock:
            self._session.close()


class ConnectExecutor:
    """A ClickHouse server or cluster through clickhouse-connect (HTTP).

    The client is safe to share between threads: no HTTP session is used, so statements
    do not depend on each other's session state.
    """

    def __init__(self, client) -> None:
        self._client = client
        self.engine_version = client.server_version

    @classmethod
    def from_url(cls, url: str) -> "ConnectExecutor":
        """clickhouse://user:pass@host:8123/database?setting=value (clickhouses:// for TLS)."""
        import clickhouse_connect

        parts = urlsplit(url)
        settings = dict(parse_qsl(parts.query))
        client = clickhouse_connect.get_client(
            host=parts.hostname or "localhost", port=parts.port or (8443 if parts.scheme == "clickhouses" else 8123),
            username=unquote(parts.username or "default"), password=unquote(parts.password or ""),
            database=unquote(parts.path.lstrip("/")) or "default", secure=parts.scheme == "clickhouses",
            autogenerate_session_id=False, settings=settings,
        )
        return cls(client)

    def command(self, sql: str, params: dict[str, Any] | None = None) -> None:
        self._client.command(sql, parameters=params or None)

    def query(self, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
        return self._client.query_arrow(sql, parameters=params or None, use_strings=True)

    def insert(self, table: str, data: pa.Table) -> None:
        if data.num_rows:
            self._client.insert_arrow(table, data)

    def close(self) -> None:
        self._client.close()
