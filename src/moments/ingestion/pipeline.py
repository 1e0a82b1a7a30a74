"""The beacon pipeline, end to end: door -> journal -> assembler -> store.

    accept():  route the POST's events (collector.route) -> append one record to this
               process's journal, group-committed (journal.JournalWriter) -> acknowledge
    background, on a store one process holds (DuckDB):
               journal records -> folds -> views, rollups (assembler.Assembler)
    background, on a store many processes write (store.base.BeaconInbox: ClickHouse):
               journal records -> the shared inbox (forwarder.Forwarder); in the one process
               holding the assembly lease: inbox -> folds -> views, rollups, and housekeeping
               (inbox.InboxAssembler)

A POST waits for one fsync shared with every POST that arrived meanwhile, never for the
store. When more than `max_backlog_bytes` wait (in this process's journal, or in the shared
inbox), `overloaded()` says so and the door answers 503 with Retry-After:
the SDKs keep their events and re-send.
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
from moments.ingestion.forwarder import Forwarder
from moments.ingestion.inbox import InboxAssembler
from moments.ingestion.journal import Journals, JournalWriter, Position
from moments.ingestion.useragent import Client
from moments.model import Environment
from moments.store.base import BeaconInbox, Store

MAX_BACKLOG_BYTES = 256 * 1024 * 1024


class JournalInUse(RuntimeError):
    pass


class Door:
    """The door half: route a POST's events and make them durable in this process's journal.

    `lookup` finds an environment by env key (it may block: it runs off the event loop);
    `applied` tells how far the assembler has applied this journal, for the backlog bound;
    `allowed_origins` gives an environment's allowed origins, fresh (never from a cache that
    outlives a change of them).
    """

    def __init__(self, root: Path, name: str, lookup: Callable[[str], Environment | None],
                 applied: Callable[[], Position], max_backlog_bytes: int = MAX_BACKLOG_BYTES,
                 unknown_ttl_s: float = 10.0,
                 allowed_origins: Callable[[str], tuple[str, ...]] = lambda _: ()) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self._lock_file = _lock(root / f"{name}.lock")
        self.writer = JournalWriter(root / name)
        self.env_keys = EnvKeys(lookup, unknown_ttl_s)
        self.applied = applied
        self.max_backlog_bytes = max_backlog_bytes
        self.allowed_origins = allowed_origins

    async def accept(self, envelope: Envelope, client: Client, received_at_ms: int, origin: str | None = None) -> Routed:
        """Route the events and, when any is for a known environment that allows the page
        `origin`, make them durable."""
        environments = {}
        for env_key in env_keys_of(envelope):
            answered, environment = self.env_keys.cached(env_key)
            environments[env_key] = environment if answered else await run_in_threadpool(self.env_keys.resolve, env_key)
        routed = route(envelope, environments, client, received_at_ms, origin, self.allowed_origins)
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
    """The whole pipeline in the process that holds the store: a door, and what takes this
    door's journal and every other one under `root` to the store.

    On a store one process holds, the assembler applies them directly and `housekeeping` is
    left to the caller. On a BeaconInbox store, the forwarder sends them to the inbox, and the
    inbox assembler applies the inbox and runs `housekeeping` (every `housekeeping_interval_s`)
    whenever this process holds the assembly lease: `runs_housekeeping` is then True.
    """

    def __init__(self, store: Store, root: Path, name: str = "main", max_backlog_bytes: int = MAX_BACKLOG_BYTES,
                 on_applied=None, housekeeping: Callable[[], None] | None = None,
                 housekeeping_interval_s: float = 60.0) -> None:
        super().__init__(root, name, store.environment_by_env_key, lambda: self.journals.own_applied(),
                         max_backlog_bytes, allowed_origins=lambda environment_id: self.origins.get(environment_id, ()))
        self.know(store.environments())
        self.journals = Journals(root, self.writer)
        self.runs_housekeeping = isinstance(store, BeaconInbox)
        self.assembler: Assembler | None = None
        self.forwarder: Forwarder | None = None
        self.inbox: InboxAssembler | None = None
        if self.runs_housekeeping:
            self.forwarder = Forwarder(store, self.journals)
            self.inbox = InboxAssembler(store, on_applied, housekeeping, housekeeping_interval_s)
            self.forwarder.start()
            self.inbox.start()
        else:
            self.assembler = Assembler(store, self.journals, on_applied)
            self.assembler.start()

    def know(self, environments: list[Environment]) -> None:
        """The environments as the store has them now (their allowed origins may have changed):
        at start, every few seconds (api/app.py), and right after a change through the API."""
        self.origins: dict[str, tuple[str, ...]] = {e.environment_id: e.allowed_origins for e in environments}

    def overloaded(self) -> bool:
        waiting = self.inbox.backlog.payload_bytes if self.inbox is not None else 0
        return self.backlog_bytes() + waiting > self.max_backlog_bytes

    def ingest_lag_s(self, now_ms: int) -> float:
        """Age of the oldest acknowledged record not yet applied: in the journals under `root`
        and, on a BeaconInbox store, in the shared inbox (every process's records). Blocking."""
        lag = self.journals.lag_s(now_ms)
        if self.inbox is not None and (oldest := self.inbox.store.inbox_backlog().oldest_at_ms) is not None:
            lag = max(lag, (now_ms - oldest) / 1000)
        return max(0.0, lag)

    def ingest_backlog_bytes(self) -> int:
        """Bytes acknowledged and not yet applied: journal bytes under `root` (not yet forwarded,
        on a BeaconInbox store) plus the payload bytes waiting in the shared inbox. Blocking."""
        waiting = self.inbox.store.inbox_backlog().payload_bytes if self.inbox is not None else 0
        return self.journals.backlog_bytes() + waiting

    def close(self) -> None:
        """Stop taking records, apply what is durable (on a BeaconInbox store: forward it, and
        apply the inbox when the lease is free or this process's), release the journal."""
        self.writer.close()
        if self.assembler is not None:
            self.assembler.stop()
        else:
            self.forwarder.stop()
            self.inbox.stop()
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

