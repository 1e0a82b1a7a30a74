"""The forwarder: this machine's journal records into the shared inbox of a store that many
processes write (ClickHouse; store/base.py, BeaconInbox), in large, rare inserts.

Each record goes as (source, seq, at_ms, payload): source the journal's lasting name
(journal.source_id), seq its end position (journal.Position.seq). Forwarding is at least
once: the journal's applied mark, here the forwarded mark, is moved only after the insert
returned, so a crash re-sends records with the same (source, seq), which the inbox's reader
takes as the duplicates they are. Segments wholly forwarded are deleted, as on the direct path.

Batches: whatever every journal holds, at most `batch_bytes` of each, at most every
`interval_s` unless a journal had more than a batch waiting.
"""

from __future__ import annotations

import logging
import threading
import time

from moments.ingestion.journal import HEADER, JournalReader, Journals, source_id
from moments.store.base import BeaconInbox, InboxRow

log = logging.getLogger("moments.forwarder")
BATCH_BYTES = 4 * 1024 * 1024
INTERVAL_S = 0.2
RETRY_AFTER_FAILURE_S = 1.0


class Forwarder:
    """Forwards every journal under a root (journal.Journals) to `inbox`, on a thread of its own."""

    def __init__(self, inbox: BeaconInbox, journals: Journals, batch_bytes: int = BATCH_BYTES,
                 interval_s: float = INTERVAL_S) -> None:
        self.inbox, self.journals = inbox, journals
        self.batch_bytes, self.interval_s = batch_bytes, interval_s
        self._sources: dict[str, str] = {}  # journal folder name: source id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="forwarder", daemon=True)
        self.failures = 0

    def forward_once(self) -> tuple[int, bool]:
        """One insert of what every journal holds (up to a batch each): (records forwarded,
        whether some journal has more waiting)."""
        rows, marks, full = [], [], False
        for reader in self.journals.readers():
            records, position = self.journals.read(reader, self.batch_bytes)
            source = self._source(reader)
            rows += [InboxRow(source, record.end.seq, record.at_ms, record.payload) for record in records]
            marks.append((reader, position))
            full |= sum(HEADER.size + len(record.payload) for record in records) >= self.batch_bytes
        if rows:
            self.inbox.inbox_append(rows)
        for reader, position in marks:
            reader.mark_applied(position)
        return len(rows), full

    def _source(self, reader: JournalReader) -> str:
        if reader.name not in self._sources:
            self._sources[reader.name] = source_id(reader.folder)
        return self._sources[reader.name]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after forwarding what is durable now."""
        self._stop.set()
        self.journals.wake()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            stopping = self._stop.is_set()
            started = time.monotonic()
            try:
                forwarded, more = self.forward_once()
            except Exception:  # the store failed: keep the records, try again shortly
                self.failures += 1
                log.exception("forwarding beacon records failed; retrying")
                if self._stop.wait(RETRY_AFTER_FAILURE_S):
                    return
                continue
            if stopping and not forwarded:
                self.journals.save_marks()
                return
            if more or stopping:
                continue
            if forwarded:  # inserts at most every interval_s: what arrives meanwhile goes in the next
                self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))
            else:
                self.journals.wait_for_own(0.5)
