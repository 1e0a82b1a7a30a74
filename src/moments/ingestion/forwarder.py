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

from moments.ingestion.drain import Drain
from moments.ingestion.journal import HEADER, JournalReader, Journals, source_id
from moments.store.base import BeaconInbox, InboxRow

BATCH_BYTES = 4 * 1024 * 1024
INTERVAL_S = 0.2


class Forwarder(Drain):
    """Forwards every journal under a root (journal.Journals) to `inbox`, on a thread of its own."""

    def __init__(self, inbox: BeaconInbox, journals: Journals, batch_bytes: int = BATCH_BYTES,
                 interval_s: float = INTERVAL_S) -> None:
        super().__init__(journals, "forwarder", interval_s)
        self.inbox = inbox
        self.batch_bytes = batch_bytes
        self._sources: dict[str, str] = {}  # journal folder name: source id

    def drain_once(self) -> tuple[int, bool]:
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
