"""The beacon journal: accepted beacon batches on disk, before any view is built from them.

A POST is acknowledged once its record is in the journal and fsync'd, so a 2xx survives a
crash. Records from many concurrent POSTs share one write and one fsync (group commit): a
writer thread takes every record waiting, writes them in one go, syncs once, and only then
wakes their requests. The assembler (ingestion/assembler.py) reads the durable records in
batches and applies them to the store; after each applied batch it saves how far it got, and
segments wholly before that point are deleted. Applying a record twice changes nothing (the
view folds drop events they have seen), so the saved position may lag without harm.

Layout: DIR/NAME/SEGMENT.log, NAME one writer (one server process), SEGMENT a zero-padded
counter; each record is `length (u32) | crc32 (u32) | written at, epoch ms (i64) | payload`,
the checksum over the time and the payload. A torn record at the tail of
the last segment (a crash mid-write, never acknowledged) is cut off when the journal opens.
DIR/NAME/source holds the journal's lasting name in the ClickHouse store's shared inbox
(ingestion/forwarder.py).

A record's end position (`Position.seq`) names it for good: a writer that opens a journal
already holding records starts a new segment, so a position read once (perhaps from the page
cache of a writer whose machine then crashed before the record reached the disk) is never
reused by a different record.
"""

from __future__ import annotations

import asyncio
import os
import queue
import struct
import threading
import time
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

HEADER = struct.Struct("<IIq")
SEGMENT_BYTES = 64 * 1024 * 1024
APPLIED_FILE = "applied"
SOURCE_FILE = "source"
SAVE_INTERVAL_S = 0.5
OFFSET_BITS = 40  # a segment is far smaller than 2**40 bytes


class Position(NamedTuple):
    segment: int
    offset: int

    @property
    def seq(self) -> int:
        """The position as one integer, increasing along the journal; within a segment,
        differences are bytes."""
        return self.segment << OFFSET_BITS | self.offset


class Record(NamedTuple):
    at_ms: int  # when it was appended (the server's clock)
    payload: bytes
    end: Position | None = None  # where it ends in its journal (set by JournalReader.read)


@dataclass
class _Pending:
    record: Record
    done: asyncio.Future
    loop: asyncio.AbstractEventLoop


def _segment_path(folder: Path, segment: int) -> Path:
    return folder / f"{segment:012d}.log"


def _segments(folder: Path) -> list[int]:
    return sorted(int(p.stem) for p in folder.glob("*.log") if p.stem.isdigit())


def _encode(record: Record) -> bytes:
    stamp = struct.pack("<q", record.at_ms)
    return HEADER.pack(len(record.payload), zlib.crc32(record.payload, zlib.crc32(stamp)), record.at_ms) + record.payload


def _read_record(file) -> Record | None:
    """The next whole, checksummed record, or None (the end, or a record not yet wholly written)."""
    header = file.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    length, crc, at_ms = HEADER.unpack(header)
    payload = file.read(length)
    if len(payload) < length or zlib.crc32(payload, zlib.crc32(struct.pack("<q", at_ms))) != crc:
        return None
    return Record(at_ms, payload)


def _valid_length(path: Path) -> int:
    """Bytes of `path` up to its last whole, checksummed record."""
    offset = 0
    with open(path, "rb") as file:
        while (record := _read_record(file)) is not None:
            offset += HEADER.size + len(record.payload)
    return offset


def source_id(folder: Path) -> str:
    """The journal's name among every machine's journals (its `source` file, made on first
    use): the same for as long as the folder lives, unlike its path."""
    path = folder / SOURCE_FILE
    if not path.exists():
        scratch = folder / f"{SOURCE_FILE}.{uuid.uuid4().hex}.tmp"
        scratch.write_text(f"{os.uname().nodename}/{folder.name}/{uuid.uuid4().hex}\n")
        try:
            os.link(scratch, path)  # atomic, and refuses to replace one another process made meanwhile
        except FileExistsError:
            pass
        finally:
            scratch.unlink()
    return path.read_text().strip()


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class JournalWriter:
    """One process's journal: `append` returns once the record is durable."""

    def __init__(self, folder: Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.folder = folder
        self.segment_bytes = segment_bytes
        folder.mkdir(parents=True, exist_ok=True)
        segments = _segments(folder)
        self._segment = segments[-1] if segments else 0
        path = _segment_path(folder, self._segment)
        valid = _valid_length(path) if path.exists() else 0
        self._file = open(path, "ab")
        self._file.truncate(valid)  # a torn tail was never acknowledged
        self._offset = valid
        if valid:  # positions already handed out are never written again (see the module's docstring)
            self._rotate()
        self._durable = Position(self._segment, self._offset)
        self._durable_lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self.syncs = 0  # fsyncs done: fewer than appends when they share them
        self.appended = threading.Condition()  # notified after each sync, for the assembler
        self._thread = threading.Thread(target=self._write_loop, name=f"journal-{folder.name}", daemon=True)
        self._thread.start()

    @property
    def durable(self) -> Position:
        with self._durable_lock:
            return self._durable

    async def append(self, payload: bytes, at_ms: int) -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._queue.put(_Pending(Record(at_ms, payload), done, loop))
        await done

    def _write_loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < 4096:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(item)
            self._write(batch)

    def _write(self, batch: list[_Pending]) -> None:
        try:
            if self._offset >= self.segment_bytes:
                self._rotate()
            payload = b"".join(_encode(p.record) for p in batch)
            self._file.write(payload)
            self._file.flush()
            os.fdatasync(self._file.fileno())
            self._offset += len(payload)
            self.syncs += 1
            with self._durable_lock:
                self._durable = Position(self._segment, self._offset)
            error = None
        except OSError as failure:  # disk full, I/O error: the requests get an error, not a 2xx
            error = failure
        for pending in batch:
            pending.loop.call_soon_threadsafe(_settle, pending.done, error)
        with self.appended:
            self.appended.notify_all()

    def _rotate(self) -> None:
        self._file.close()
        self._segment += 1
        self._offset = 0
        self._file = open(_segment_path(self.folder, self._segment), "ab")
        _fsync_folder(self.folder)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._file.close()


def _settle(done: asyncio.Future, error: BaseException | None) -> None:
    if done.cancelled():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


class JournalReader:
    """Reads one writer's durable records from where the assembler stopped."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.name = folder.name
        self.applied = self._load_applied()
        self._saved_at = time.monotonic()

    def _load_applied(self) -> Position:
        try:
            segment, offset = (int(x) for x in (self.folder / APPLIED_FILE).read_text().split())
            return Position(segment, offset)
        except (OSError, ValueError):
            segments = _segments(self.folder)
            return Position(segments[0] if segments else 0, 0)

    def read(self, until: Position | None, max_bytes: int) -> tuple[list[Record], Position]:
        """Whole records after `applied`, up to `until` (None: all that is wholly on disk),
        until about `max_bytes` are taken; and the position after the last one returned."""
        records: list[Record] = []
        position, taken = self.applied, 0
        for segment in _segments(self.folder):
            if segment < position.segment or (until is not None and segment > until.segment) or taken >= max_bytes:
                continue
            if segment > position.segment:
                position = Position(segment, 0)
            end = until.offset if until is not None and segment == until.segment else None
            with open(_segment_path(self.folder, segment), "rb") as file:
                file.seek(position.offset)
                while taken < max_bytes and (end is None or position.offset < end):
                    record = _read_record(file)
                    if record is None:  # the end, or a record still being written: next time
                        break
                    taken += HEADER.size + len(record.payload)
                    position = Position(segment, position.offset + HEADER.size + len(record.payload))
                    records.append(record._replace(end=position))
        return records, position

    def mark_applied(self, position: Position, save: bool = False) -> None:
        """Note how far records are applied. The mark is saved to disk when a segment is done
        (which then goes), when `save` says so, or SAVE_INTERVAL_S after the last save: a
        restart replays at most that much again, which changes nothing."""
        if position == self.applied and not save:
            return
        segment_done = position.segment != self.applied.segment
        self.applied = position
        if segment_done or save or time.monotonic() - self._saved_at >= SAVE_INTERVAL_S:
            scratch = self.folder / (APPLIED_FILE + ".tmp")
            scratch.write_text(f"{position.segment} {position.offset}\n")
            os.replace(scratch, self.folder / APPLIED_FILE)
            self._saved_at = time.monotonic()
        if segment_done:
            for segment in _segments(self.folder):
                if segment < position.segment:
                    _segment_path(self.folder, segment).unlink(missing_ok=True)

    def first_pending_at(self) -> int | None:
        """When the oldest record not yet applied was written; None when there is none."""
        for segment in _segments(self.folder):
            if segment >= self.applied.segment:
                with open(_segment_path(self.folder, segment), "rb") as file:
                    file.seek(self.applied.offset if segment == self.applied.segment else 0)
                    header = file.read(HEADER.size)
                if len(header) == HEADER.size:
                    return HEADER.unpack(header)[2]
        return None

    def backlog_bytes(self) -> int:
        """Bytes on disk not yet applied."""
        total = 0
        for segment in _segments(self.folder):
            if segment >= self.applied.segment:
                size = _segment_path(self.folder, segment).stat().st_size
                total += size - (self.applied.offset if segment == self.applied.segment else 0)
        return max(total, 0)



class Journals:
    """Every journal folder under `root`, as their reader (the assembler, or on a shared store
    the forwarder) sees them: this process's own, read up to what its writer made durable,
    and the others (door processes', or this one's from before a restart), read up to their
    last whole record. New folders are looked for once a second."""

    def __init__(self, root: Path, own: JournalWriter) -> None:
        self.root, self.own = root, own
        self._own_reader = JournalReader(own.folder)
        self._readers: dict[str, JournalReader] = {own.folder.name: self._own_reader}
        self._rescan_at = 0.0

    def readers(self) -> list[JournalReader]:
        if time.monotonic() >= self._rescan_at:
            for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
                if folder.name not in self._readers:
                    self._readers[folder.name] = JournalReader(folder)
            self._rescan_at = time.monotonic() + 1.0
        return list(self._readers.values())

    def read(self, reader: JournalReader, max_bytes: int) -> tuple[list[Record], Position]:
        return reader.read(self.own.durable if reader is self._own_reader else None, max_bytes)

    def own_applied(self) -> Position:
        return self._own_reader.applied

    def save_marks(self) -> None:
        for reader in self.readers():
            reader.mark_applied(reader.applied, save=True)

    def wait_for_own(self, timeout_s: float) -> None:
        """Until the own writer makes more durable than is applied (or `timeout_s`)."""
        with self.own.appended:  # checked under the condition, so no sync's wake-up is missed
            if self.own.durable == self._own_reader.applied:
                self.own.appended.wait(timeout=timeout_s)

    def wake(self) -> None:
        with self.own.appended:
            self.own.appended.notify_all()

    def lag_s(self, now_ms: int) -> float:
        """Age of the oldest record not yet applied (0 when all are)."""
        oldest = min((at for reader in self.readers() if (at := reader.first_pending_at()) is not None), default=None)
        return max(0.0, (now_ms - oldest) / 1000) if oldest is not None else 0.0

    def backlog_bytes(self) -> int:
        return sum(reader.backlog_bytes() for reader in self.readers())
