"""The inbox assembler: on a store many processes write (ClickHouse; store/base.py,
BeaconInbox), one process at a time applies the forwarded beacon records and runs
housekeeping, under the store's assembly lease.

Every process runs one; only the lease holder works, the others wait for the lease. The
holder, in a loop: renews the lease when a third of it has passed -> reads the inbox past the
per-source cursors (at most `batch_bytes` of journal per source) -> applies the records with
assembler.apply_records (the same folds and fold cache as the direct path) -> saves the
cursors once the store writes succeeded -> when due, closes idle views and applies retention
(so nothing else writes beacon views meanwhile) and deletes inbox rows the cursors passed.

Guarantees: a record is applied at least once after it reached the inbox (a takeover
re-reads from the saved cursors, and rows applied twice change nothing: folds drop the
sequences they have seen), and while the lease is held continuously, by this process only.
The fold cache and the cursors in memory are only right while the lease was held
continuously: both are dropped whenever it may have lapsed, and read again from the store.
A holder that dies is replaced within the lease's length (store.assembly_lease_ms) plus a
poll. The limit (docs/clickhouse.md): a holder stalled for longer than the lease between
renewing it and finishing a batch's writes (a pause of tens of seconds) overlaps its successor.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from moments.ingestion.assembler import Applied, FoldCache, apply_records
from moments.ingestion.journal import Record
from moments.store.base import InboxBacklog, Store

log = logging.getLogger("moments.inbox")
BATCH_BYTES = 2 * 1024 * 1024  # per source; each batch is one set of store writes
POLL_S = 0.2  # how often the holder looks at the inbox when it is empty
PRUNE_INTERVAL_S = 60.0
RETRY_AFTER_FAILURE_S = 1.0


class InboxAssembler:
    """Applies the inbox of `store` (a BeaconInbox) while this process holds the assembly lease,
    on a thread of its own; `housekeeping` (closing idle views, retention) runs every
    `housekeeping_interval_s` under the same lease."""

    def __init__(self, store: Store, on_applied: Callable[[Applied], None] | None = None,
                 housekeeping: Callable[[], None] | None = None, housekeeping_interval_s: float = 60.0,
                 batch_bytes: int = BATCH_BYTES, poll_s: float = POLL_S) -> None:
        self.store = store
        self.on_applied = on_applied or (lambda applied: None)
        self.housekeeping = housekeeping or (lambda: None)
        self.housekeeping_interval_s = housekeeping_interval_s
        self.batch_bytes, self.poll_s = batch_bytes, poll_s
        self.folds = FoldCache()
        self._cursors: dict[str, int] | None = None  # None: read them from the store
        self._held_until = 0.0  # monotonic time the lease lasts to, by this process's last renewal
        self._renewed_at = 0.0
        self._housekeeping_at = time.monotonic() + housekeeping_interval_s
        self._prune_at = 0.0
        self.backlog = InboxBacklog(0, 0, None)  # the inbox past the saved cursors, as last looked at
        self._backlog_at = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="inbox-assembler", daemon=True)
        self.failures = 0
        self.takeovers = 0  # times this process started holding the lease

    @property
    def holding(self) -> bool:
        return time.monotonic() < self._held_until

    def hold(self) -> bool:
        """Hold the lease for a while more (renewing it when a third of it has passed); when it
        may have lapsed since the last renewal, forget what only a continuous holder may know."""
        lease_s = self.store.assembly_lease_ms / 1000
        now = time.monotonic()
        if now < self._held_until and now - self._renewed_at < lease_s / 3:
            return True
        continuous = now < self._held_until
        if not self.store.assembly_lease():
            self._lapse()
            return False
        if not continuous:
            self._lapse()
            self.takeovers += 1
        self._renewed_at, self._held_until = now, now + lease_s
        return True

    def _lapse(self) -> None:
        self._held_until = 0.0
        self._forget()

    def _forget(self) -> None:
        self.folds = FoldCache(self.folds.max_views)
        self._cursors = None

    def apply_once(self) -> int:
        """Apply one batch from the inbox (the lease held); the number of records applied."""
        if self._cursors is None:
            self._cursors = self.store.inbox_cursors()
        rows = self.store.inbox_read(self._cursors, self.batch_bytes)
        if not rows:
            return 0
        applied = apply_records(self.store, [Record(row.at_ms, row.payload) for row in rows], self.folds)
        advanced = dict(self._cursors)
        for row in rows:
            advanced[row.source] = max(advanced.get(row.source, 0), row.seq)
        self.store.inbox_advance({source: seq for source, seq in advanced.items() if seq != self._cursors.get(source)})
        self._cursors = advanced
        self.on_applied(applied)
        return len(rows)

    def _chores(self) -> None:
        """Housekeeping and inbox pruning, when due (the lease held)."""
        now = time.monotonic()
        if now >= self._housekeeping_at:
            self._housekeeping_at = now + self.housekeeping_interval_s
            self.housekeeping()
        if now >= self._prune_at and self._cursors:
            self._prune_at = now + PRUNE_INTERVAL_S
            self.store.inbox_prune(self._cursors)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop; when the lease is this process's or free, apply what the inbox holds first.
        Then give the lease up, so another process takes over at once."""
        self._stop.set()
        self._thread.join()
        try:
            while self.hold() and self.apply_once():
                pass
            if self.holding:
                self.store.release_assembly_lease()
        except Exception:  # what is left waits in the inbox; the lease expires
            log.exception("applying the beacon inbox before stopping failed")

    def _look_at_backlog(self) -> None:
        if time.monotonic() >= self._backlog_at:
            self.backlog = self.store.inbox_backlog()
            self._backlog_at = time.monotonic() + 1.0

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._look_at_backlog()
                if not self.hold():
                    self._stop.wait(self.poll_s * 10)  # another process assembles
                    continue
                applied = self.apply_once()
                if self.hold():  # housekeeping writes views too: only while still holding the lease
                    self._chores()
            except Exception:  # the store failed: the cursors did not move, so the rows are read again
                self.failures += 1
                log.exception("applying the beacon inbox failed; retrying")
                self._forget()  # what the store holds now is not known for sure
                self._stop.wait(RETRY_AFTER_FAILURE_S)
                continue
            if not applied:
                self._stop.wait(self.poll_s)
