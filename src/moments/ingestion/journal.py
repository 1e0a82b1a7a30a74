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
"""

from __future__ import annotations

import asyncio
import os
import queue
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

HEADER = struct.Struct("<IIq")
SEGMENT_BYTES = 64 * 1024 * 1024
APPLIED_FILE = "applied"
SAVE_INTERVAL_S = 0.5


class Position(NamedTuple):
    segment: int
    offset: int


class Record(NamedTuple):
    at_ms: int  # when it was appended (the server's clock)
    payload: bytes


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
        self._durable = Position(self._segment, valid)
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
                    records.append(record)
                    taken += HEADER.size + len(record.payload)
                    position = Position(segment, position.offset + HEADER.size + len(record.payload))
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

