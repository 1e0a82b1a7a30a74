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
from typing import Callable

from fastapi.concurrency import run_in_threadpool

from moments.ingestion.assembler import Assembler
from moments.ingestion.beacons import Envelope
from moments.ingestion.collector import EnvKeys, Routed, env_keys_of, route
from moments.ingestion.journal import JournalWriter, Position
from moments.ingestion.useragent import Client
from moments.model import Environment
from moments.store.base import Store

MAX_BACKLOG_BYTES = 256 * 1024 * 1024


class JournalInUse(RuntimeError):
    pass


class Door:
    """The door half: route a POST's events and make them durable in this process's journal.

    `lookup` finds an environment by env key (it may block: it runs off the event loop);
    `applied` tells how far the assembler has applied this journal, for the backlog bound.
    """

    def __init__(self, root: Path, name: str, lookup: Callable[[str], Environment | None],
                 applied: Callable[[], Position], max_backlog_bytes: int = MAX_BACKLOG_BYTES,
                 unknown_ttl_s: float = 10.0) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self._lock_file = _lock(root / f"{name}.lock")
        self.writer = JournalWriter(root / name)
        self.env_keys = EnvKeys(lookup, unknown_ttl_s)
        self.applied = applied
        self.max_backlog_bytes = max_backlog_bytes

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
        durable, applied = self.writer.durable, self.applied()
        return max(0, (durable.segment - applied.segment) * self.writer.segment_bytes + durable.offset - applied.offset)

    def overloaded(self) -> bool:
        return self.backlog_bytes() > self.max_backlog_bytes

    def close(self) -> None:
        """Stop taking records and release the journal."""
        self.writer.close()
        os.close(self._lock_file)


class BeaconPipeline(Door):
    """The whole pipeline in the process that holds the store: a door, and the assembler
    that applies this door's journal and every other one under `root`."""

    def __init__(self, store: Store, root: Path, name: str = "main", max_backlog_bytes: int = MAX_BACKLOG_BYTES,
                 on_applied=None) -> None:
        super().__init__(root, name, store.environment_by_env_key, lambda: self.assembler.own_applied(),
                         max_backlog_bytes)
        self.assembler = Assembler(store, root, self.writer, on_applied)
        self.assembler.start()

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

