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
    default_timeframe_s: int = 7 * 24 * 3600
    # The collector also answers here (beaconCollectionDomain "host/path"); "/" always works.
    beacon_path: str = os.environ.get("MOMENTS_BEACON_PATH", "")
    # How often the server closes views that went idle.
    finalize_interval_s: float = float(os.environ.get("MOMENTS_FINALIZE_INTERVAL_S", 60))
