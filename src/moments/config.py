"""Settings read from the environment, with the defaults the docs promise."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DB_FILE = "moments.duckdb"


def default_db_path() -> str:
    return os.environ.get("MOMENTS_DB") or str(Path.cwd() / DEFAULT_DB_FILE)


@dataclass(frozen=True)
class Settings:
    # A view without an end counts once no update arrived for this long.
    idle_timeout_s: float = float(os.environ.get("MOMENTS_IDLE_TIMEOUT_S", 3600))
    # Largest request body accepted by the import endpoint.
    max_import_bytes: int = int(os.environ.get("MOMENTS_MAX_IMPORT_BYTES", 64 * 1024 * 1024))
    # A client must send a request's headers within this many seconds of connecting (or of
    # starting the request), and its body within this many seconds of the headers (64 MiB in 60 s
    # is ~9 Mbit/s; slower uplinks need more, or a proxy that buffers bodies); else 408.
    header_timeout_s: float = float(os.environ.get("MOMENTS_HEADER_TIMEOUT_S", 10))
    body_timeout_s: float = float(os.environ.get("MOMENTS_BODY_TIMEOUT_S", 60))
    # Open connections (and requests in progress) per server process; past it requests get 503.
    # Keep it below the process's open-file limit (`ulimit -n`).
    max_connections: int = int(os.environ.get("MOMENTS_MAX_CONNECTIONS", 2048))
    default_timeframe_s: int = 7 * 24 * 3600
    # The collector also answers here (beaconCollectionDomain "host/path"); "/" always works.
    beacon_path: str = os.environ.get("MOMENTS_BEACON_PATH", "")
    # How often the server closes views that went idle.
    finalize_interval_s: float = float(os.environ.get("MOMENTS_FINALIZE_INTERVAL_S", 60))
    # Where acknowledged beacons wait to be applied (default: beside the DuckDB file, or in
    # the chdb directory; a remote ClickHouse store needs one set).
    journal_dir: str | None = os.environ.get("MOMENTS_JOURNAL_DIR") or None
    # This process's journal within journal_dir: one name per server process.
    journal_name: str = os.environ.get("MOMENTS_JOURNAL_NAME", "main")
    # Beacon bytes each env key may send per second (and at once) to one server process; past
    # it, POSTs are answered 429 with Retry-After before their bodies are even decoded. The
    # default is about 5,000 playing viewers' worth (mux-embed: ~0.5-1 KB/s each); a bigger
    # site raises it or runs more --workers (each process has its own budget).
    beacon_bytes_per_s: float = float(os.environ.get("MOMENTS_BEACON_BYTES_PER_S", 4 * 1024 * 1024))
    beacon_burst_bytes: int = int(os.environ.get("MOMENTS_BEACON_BURST_BYTES", 32 * 1024 * 1024))
    # Beacon bytes one client address may send per second (and at once) to one server process:
    # about 1,000 playing viewers behind one address (an office, a campus). Behind a reverse
    # proxy the address is the one it forwards, if it is trusted (uvicorn's FORWARDED_ALLOW_IPS,
    # 127.0.0.1 by default); otherwise every beacon seems to come from the proxy and shares
    # one budget (docs/reliability.md).
    beacon_address_bytes_per_s: float = float(os.environ.get("MOMENTS_BEACON_ADDRESS_BYTES_PER_S", 1024 * 1024))
    beacon_address_burst_bytes: int = int(os.environ.get("MOMENTS_BEACON_ADDRESS_BURST_BYTES", 8 * 1024 * 1024))
    # Beacon POSTs are answered 503 (Retry-After) while this much is journaled but not applied.
    max_ingest_backlog_bytes: int = int(os.environ.get("MOMENTS_MAX_INGEST_BACKLOG_BYTES", 256 * 1024 * 1024))
    # /metrics answers only requests with "Authorization: Bearer <this>" when set (compared in
    # constant time); unset or empty, it is open, as Prometheus scrapers expect by default.
    metrics_token: str | None = os.environ.get("MOMENTS_METRICS_TOKEN") or None
    # Where POST /v1/backup (`moments backup --url`) writes the store's copies (default: a
    # folder beside the DuckDB file, FILE.backups).
    backup_dir: str | None = os.environ.get("MOMENTS_BACKUP_DIR") or None
