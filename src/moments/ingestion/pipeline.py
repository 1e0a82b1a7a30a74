"""The beacon pipeline, end to end: door -> journal -> assembler -> store.

    accept():  route the POST's events (collector.route) -> append one record to this
               process's journal, group-committed (journal.JournalWriter) -> acknowledge
    background: journal records -> folds -> views, rollups (assembler.Assembler)

A POST waits for one fsync shared with every POST that arrived meanwhile, never for the
store. When the assembler falls behind by more than `max_backlog_bytes`, `overloaded()`
says so and the door answers 503 with Retry-After: the SDKs keep their events and re-send.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from fastapi.concurrency import run_in_threadpool

from moments.ingestion.assembler import Assembler
from moments.ingestion.beacons import Envelope
from moments.ingestion.collector import EnvKeys, Routed, env_keys_of, route
from moments.ingestion.journal import JournalWriter
from moments.ingestion.useragent import Client
from moments.store.base import Store

MAX_BACKLOG_BYTES = 256 * 1024 * 1024


class JournalInUse(RuntimeError):
    pass


class BeaconPipeline:
    def __init__(self, store: Store, root: Path, name: str = "main", max_backlog_bytes: int = MAX_BACKLOG_BYTES,
                 on_applied=None) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self._lock_file = _lock(root / f"{name}.lock")
        self.writer = JournalWriter(root / name)
        self.assembler = Assembler(store, root, self.writer, on_applied)
        self.env_keys = EnvKeys(store.environment_by_env_key)
        self.max_backlog_bytes = max_backlog_bytes
        self.assembler.start()

    async def accept(self, envelope: Envelope, client: Client, received_at_ms: int) -> Routed:
        """Route the events and, when any is for a known environment, make them durable."""
        environments = {}
        for env_key in env_keys_of(envelope):
            answered, environment = self.env_keys.cached(env_key)
            environments[env_key] = environment if answered else await run_in_threadpool(self.env_keys.resolve, env_key)
        routed = route(envelope, environments, client, received_at_ms)
        if routed.events:
            await self.writer.append(routed.payload(), received_at_ms)
        return routed

    def backlog_bytes(self) -> int:
        """Bytes this process journaled and the assembler has not applied yet (an estimate
        across segment boundaries, exact within one)."""
        durable, applied = self.writer.durable, self.assembler.own_applied()
        return max(0, (durable.segment - applied.segment) * self.writer.segment_bytes + durable.offset - applied.offset)

    def overloaded(self) -> bool:
        return self.backlog_bytes() > self.max_backlog_bytes

    def close(self) -> None:
        """Stop taking records, apply what is durable, release the journal."""
        self.writer.close()
        self.assembler.stop()
        os.close(self._lock_file)


def _lock(path: Path) -> int:
    """Hold `path` locked for as long as this process lives: one writer per journal."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise JournalInUse(f"the beacon journal {path.with_suffix('')} is in use by another process") from None
    return fd

