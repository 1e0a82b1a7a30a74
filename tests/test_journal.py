"""The beacon journal on a real folder: group commit, torn tails, segments, the applied mark."""

from __future__ import annotations

import asyncio
from pathlib import Path

from moments.ingestion.journal import HEADER, JournalReader, JournalWriter, Position

from conftest import run_async


async def append_all(writer: JournalWriter, payloads: list[bytes]) -> None:
    await asyncio.gather(*(writer.append(p, 1_000 + i) for i, p in enumerate(payloads)))


def test_concurrent_appends_share_fsyncs_and_read_back_in_order(tmp_path: Path):
    writer = JournalWriter(tmp_path / "main")
    payloads = [f"record {i}".encode() * (i % 7 + 1) for i in range(500)]
    run_async(append_all(writer, payloads))
    assert writer.syncs < len(payloads)  # 500 requests, far fewer syncs
    records, position = JournalReader(tmp_path / "main").read(writer.durable, 1 << 30)
    assert [r.payload for r in records] == payloads and [r.at_ms for r in records] == list(range(1_000, 1_500))
    assert position == writer.durable
    writer.close()


def test_a_torn_tail_is_cut_and_appending_goes_on(tmp_path: Path):
    writer = JournalWriter(tmp_path / "main")
    run_async(append_all(writer, [b"one", b"two"]))
    writer.close()
    (segment,) = (tmp_path / "main").glob("*.log")
    whole = segment.stat().st_size
    with open(segment, "ab") as file:  # a crash in the middle of a third record
        file.write(HEADER.pack(100, 0, 0) + b"half")
    assert JournalReader(tmp_path / "main").read(None, 1 << 30)[0][-1].payload == b"two"
    writer = JournalWriter(tmp_path / "main")
    assert segment.stat().st_size == whole
    run_async(append_all(writer, [b"three"]))
    writer.close()
    records, _ = JournalReader(tmp_path / "main").read(None, 1 << 30)
    assert [r.payload for r in records] == [b"one", b"two", b"three"]


def test_a_corrupted_record_is_not_read(tmp_path: Path):
    writer = JournalWriter(tmp_path / "main")
    run_async(append_all(writer, [b"good", b"flipped"]))
    writer.close()
    (segment,) = (tmp_path / "main").glob("*.log")
    data = bytearray(segment.read_bytes())
    data[-1] ^= 0xFF
    segment.write_bytes(bytes(data))
    assert [r.payload for r in JournalReader(tmp_path / "main").read(None, 1 << 30)[0]] == [b"good"]


def test_segments_rotate_and_applied_ones_go(tmp_path: Path):
    writer = JournalWriter(tmp_path / "main", segment_bytes=1_000)
    payloads = [bytes([i]) * 300 for i in range(20)]
    for payload in payloads:  # one at a time, so each write checks the segment's size
        run_async(append_all(writer, [payload]))
    assert len(list((tmp_path / "main").glob("*.log"))) > 3
    reader = JournalReader(tmp_path / "main")
    first, position = reader.read(writer.durable, 1_500)  # about 1,500 bytes at a time
    assert 0 < len(first) < len(payloads)
    reader.mark_applied(position, save=True)
    rest, end = reader.read(writer.durable, 1 << 30)
    assert [r.payload for r in first + rest] == payloads and end == writer.durable
    reader.mark_applied(end, save=True)
    assert len(list((tmp_path / "main").glob("*.log"))) == 1  # only the segment still written to
    assert reader.backlog_bytes() == 0 and reader.first_pending_at() is None
    # A new reader (a restart) starts from the saved mark.
    again = JournalReader(tmp_path / "main")
    assert again.applied == end and again.read(None, 1 << 30)[0] == []
    run_async(append_all(writer, [b"late"]))
    assert [r.payload for r in again.read(None, 1 << 30)[0]] == [b"late"]
    assert again.backlog_bytes() == HEADER.size + 4 and again.first_pending_at() == 1_000
    writer.close()


def test_an_unsaved_mark_replays_from_the_saved_one(tmp_path: Path):
    writer = JournalWriter(tmp_path / "main")
    run_async(append_all(writer, [b"a", b"b", b"c"]))
    reader = JournalReader(tmp_path / "main")
    records, position = reader.read(None, 1 << 30)
    reader.mark_applied(Position(position.segment, HEADER.size + 1), save=True)
    reader.mark_applied(position)  # within SAVE_INTERVAL_S: noted in memory only
    assert reader.applied == position
    assert [r.payload for r in JournalReader(tmp_path / "main").read(None, 1 << 30)[0]] == [b"b", b"c"]
    writer.close()
