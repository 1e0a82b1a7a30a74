"""The import format: validate view objects field by field, read files and HTTP bodies."""

from __future__ import annotations

import codecs
import csv
import json
import math
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from moments.ingestion.sdks import reports_ranges
from moments.model import CUSTOM_FIELDS, DIMENSIONS, View
from moments.store.base import Store
from moments.store.rows import MAX_DIMENSION_LENGTH, MAX_ID_LENGTH

MAX_RANGES_PER_VIEW = 10_000
# Rejected views an import answers with (all are counted): a body of junk lines must not be
# echoed back at ~100x its size (a 4 MiB body of `{}` lines answered 307 MiB).
MAX_ECHOED_REJECTIONS = 100
BEACON_VIEW_MESSAGE = "view_id names a view collected from player beacons: imports cannot change it"
# Largest media position or content duration accepted: 30 days of content, in ms.
MAX_MEDIA_MS = 30 * 24 * 3600 * 1000
# Accepted view times: 2000-01-01 .. 2100-01-01.
MIN_EPOCH_MS, MAX_EPOCH_MS = 946_684_800_000, 4_102_444_800_000
# An imported view may start at most this far past the import (clocks disagree a little): a
# start in the future would outlive the environment's retention.
MAX_FUTURE_START_MS = 24 * 3600 * 1000


def latest_view_start_ms() -> int:
    return int(time.time() * 1000) + MAX_FUTURE_START_MS

WHOLE_NUMBER = re.compile(r"^-?\d+(\.0*)?\Z")
ID_FIELDS = ("asset_id", "playback_id", "video_id")
KNOWN_FIELDS = frozenset(
    ("view_id", "view_start", "view_end", "duration_ms", "ranges", "sdk_name", "sdk_version")
    + ID_FIELDS
    + DIMENSIONS
    + CUSTOM_FIELDS
)


class _Unparsable:
    """Stands in for an NDJSON line that is not JSON, so it is rejected at its index."""

    def __init__(self, message: str) -> None:
        self.message = message


class InvalidView(ValueError):
    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass
class Rejected:
    index: int
    view_id: Any
    messages: list[str]


@dataclass
class ImportResult:
    accepted: int = 0
    rejected: list[Rejected] = field(default_factory=list)  # the first MAX_ECHOED_REJECTIONS, by index
    rejected_total: int = 0

    def reject(self, rejection: Rejected) -> None:
        self.rejected_total += 1
        if len(self.rejected) < MAX_ECHOED_REJECTIONS:
            self.rejected.append(rejection)

    def add(self, later: ImportResult) -> None:
        """Count in the result of the records after these (the CLI imports in batches)."""
        self.accepted += later.accepted
        self.rejected += later.rejected[:MAX_ECHOED_REJECTIONS - len(self.rejected)]
        self.rejected_total += later.rejected_total

    def refuse_beacon_views(self, indexed_ids: Iterable[tuple[int, str]], refused: set[str]) -> None:
        """Reject the accepted records (index, view_id) whose view the store kept because
        beacons made it: an import never changes a view collected from beacons."""
        for index, view_id in indexed_ids:
            if view_id in refused:
                self.accepted -= 1
                self.reject(Rejected(index, view_id, [BEACON_VIEW_MESSAGE]))
        self.rejected.sort(key=lambda rejection: rejection.index)

    def to_json(self) -> dict:
        return {
            "data": {
                "accepted": self.accepted,
                "rejected_total": self.rejected_total,
                "rejected": [{"index": r.index, "view_id": r.view_id, "messages": r.messages} for r in self.rejected],
            }
        }


def quoted(text: str) -> str:
    """Client text to echo in a message: a lone surrogate (JSON can escape one) is not UTF-8."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def echoed_view_id(record: Any) -> str | None:
    """The view_id to name a rejected record by: only one that could have been stored."""
    view_id = record.get("view_id") if isinstance(record, dict) else None
    return view_id if isinstance(view_id, str) and len(view_id) <= MAX_ID_LENGTH and view_id.isprintable() else None


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def shown(value: Any) -> str:
    """A client's value in a message, short: 'abc', 12.5, true, [1, 2]."""
    if isinstance(value, str):
        return quoted(repr(value[:40]) + ("..." if len(value) > 40 else ""))
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:40] + "..."


def duration(name: str, value: Any, errors: list[str]) -> int | None:
    """A content duration in ms: missing, of another type and out of range are three messages."""
    if value is None:
        errors.append(f"{name} is required: an integer in 1..{MAX_MEDIA_MS}")
    elif not is_int(value):
        errors.append(f"{name}: expected an integer, got {shown(value)}")
    elif not 0 < value <= MAX_MEDIA_MS:
        errors.append(f"{name} must be in 1..{MAX_MEDIA_MS}, got {value}")
    else:
        return value
    return None


def identifier(name: str, value: Any, errors: list[str], *, path_safe: bool) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append(f"{name} must be a string")
        return None
    if not 1 <= len(value) <= MAX_ID_LENGTH:
        errors.append(f"{name} must be 1..{MAX_ID_LENGTH} characters")
        return None
    if not value.isprintable():
        errors.append(f"{name} must not contain control characters")
        return None
    if path_safe and ("/" in value or any(c.isspace() for c in value)):
        errors.append(f"{name} must not contain '/' or whitespace")
        return None
    return value


def _timestamp(name: str, value: Any, errors: list[str]) -> int | None:
    if is_int(value):
        ms = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            errors.append(f"{name} must be epoch milliseconds or an ISO-8601 timestamp")
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        ms = round(parsed.timestamp() * 1000)
    else:
        errors.append(f"{name} must be epoch milliseconds (integer) or an ISO-8601 string")
        return None
    if not MIN_EPOCH_MS <= ms <= MAX_EPOCH_MS:
        errors.append(f"{name} must be between the years 2000 and 2100 (epoch milliseconds)")
        return None
    return ms


def _ranges(value: Any, errors: list[str]) -> tuple[tuple[int, int], ...]:
    if not isinstance(value, list):
        errors.append("ranges must be an array of [start_ms, end_ms] pairs")
        return ()
    if len(value) > MAX_RANGES_PER_VIEW:
        errors.append(f"ranges must hold at most {MAX_RANGES_PER_VIEW} pairs")
        return ()
    pairs = []
    for i, pair in enumerate(value):
        if not (isinstance(pair, list) and len(pair) == 2 and all(is_int(x) for x in pair)):
            errors.append(f"ranges[{i}] must be a pair of integers [start_ms, end_ms]")
            return ()
        start, end = pair
        if not 0 <= start < end <= MAX_MEDIA_MS:
            errors.append(f"ranges[{i}] must satisfy 0 <= start_ms < end_ms <= {MAX_MEDIA_MS}")
            return ()
        pairs.append((start, end))
    return tuple(pairs)


def validate_view(obj: Any) -> View:
    """A View from one import object, or InvalidView listing every problem found."""
    if isinstance(obj, _Unparsable):
        raise InvalidView([obj.message])
    if not isinstance(obj, dict):
        raise InvalidView(["each view must be a JSON object"])
    errors: list[str] = []
    unknown = sorted(quoted(str(k)) for k in obj if k not in KNOWN_FIELDS)
    if unknown:
        errors.append(f"unknown field(s): {', '.join(unknown)[:300]}")
    view_id = identifier("view_id", obj.get("view_id"), errors, path_safe=False)
    if obj.get("view_id") is None:  # null too: the store's key cannot be empty
        errors.append("view_id is required")
    ids = {
        name: identifier(name, obj.get(name), errors, path_safe=name != "video_id") for name in ID_FIELDS
    }
    if not any(name in obj and obj[name] is not None for name in ID_FIELDS):
        errors.append("at least one of asset_id, playback_id, video_id is required")
    view_start = _timestamp("view_start", obj["view_start"], errors) if "view_start" in obj else None
    if "view_start" not in obj:
        errors.append("view_start is required")
    elif view_start is not None and view_start > latest_view_start_ms():
        errors.append("view_start must not be more than a day in the future")
    view_end = _timestamp("view_end", obj["view_end"], errors) if obj.get("view_end") is not None else None
    if view_start is not None and view_end is not None and view_end < view_start:
        errors.append("view_end must not be before view_start")
    duration_ms = duration("duration_ms", obj.get("duration_ms"), errors)
    if "ranges" not in obj:
        errors.append("ranges is required")
    ranges = _ranges(obj.get("ranges"), errors) if "ranges" in obj else ()
    strings = {}
    for name in ("sdk_name", "sdk_version") + DIMENSIONS + CUSTOM_FIELDS:
        value = obj.get(name)
        if value is None:
            strings[name] = None
        elif not isinstance(value, str) or len(value) > MAX_DIMENSION_LENGTH or not value.isprintable():
            errors.append(f"{name} must be a printable string of at most {MAX_DIMENSION_LENGTH} characters")
        else:
            strings[name] = value
    if errors:
        raise InvalidView(errors)
    custom = {name: strings.pop(name) for name in CUSTOM_FIELDS}
    return View(
        view_id=view_id,
        view_start_ms=view_start,
        view_end_ms=view_end,
        duration_ms=duration_ms,
        ranges=ranges,
        reports_ranges=reports_ranges(strings["sdk_name"], strings["sdk_version"]),
        **ids,
        **strings,
        dimensions={name: value for name, value in custom.items() if value},
    )


def validate_all(records: Iterable[Any], first_index: int = 0) -> tuple[list[tuple[int, View]], ImportResult]:
    """The valid records' (index, View), and the result that reports the others."""
    views, result = [], ImportResult()
    for index, record in enumerate(records, start=first_index):
        try:
            views.append((index, validate_view(record)))
        except InvalidView as invalid:
            result.reject(Rejected(index, echoed_view_id(record), invalid.messages))
    result.accepted = len(views)
    return views, result


def import_records(store: Store, environment_id: str, records: Iterable[Any], first_index: int = 0) -> ImportResult:
    """Validate and store; bad records are reported and store nothing, good ones are stored."""
    views, result = validate_all(records, first_index)
    refused = store.upsert_views(environment_id, [view for _, view in views], int(time.time() * 1000))
    result.refuse_beacon_views(((index, view.view_id) for index, view in views), refused)
    return result


# --- reading bodies and files ---------------------------------------------------

def _reject_constants(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def loads(text: str | bytes) -> Any:
    """Strict JSON: NaN and Infinity are errors, not floats."""
    return json.loads(text, parse_constant=_reject_constants)


def parse_body(body: bytes, content_type: str) -> Iterable[Any]:
    """Records of an import body: a JSON array (or one object), or NDJSON (read lazily, line by
    line: a body of many tiny lines must not become a list of them).

    NDJSON is read when the content type says so, or when a body that is not one JSON
    document consists of lines that each start an object. Raises ValueError when the
    body as a whole cannot be read.
    """
    text = body.decode("utf-8")
    if not text.strip():
        raise ValueError("body is empty: send a JSON array of views or NDJSON")
    if "ndjson" in content_type or "jsonl" in content_type:
        return _ndjson(text)
    try:
        value = loads(text)
    except (ValueError, RecursionError) as error:
        if _object_lines(text):
            return _ndjson(text)
        raise ValueError(f"body is not valid JSON: {error}") from None
    return value if isinstance(value, list) else [value]


def _lines(text: str, piece: int = 1 << 20) -> Iterator[str]:
    """text.splitlines(), a piece at a time (a piece ends after a "\n", which always ends a line)."""
    start = 0
    while start < len(text):
        end = text.find("\n", start + piece)
        end = len(text) if end < 0 else end + 1
        yield from text[start:end].splitlines()
        start = end


def _object_lines(text: str) -> bool:
    """Does the text hold more than one line that is not blank, each starting an object?"""
    count = 0
    for line in _lines(text):
        if line.strip():
            if not line.lstrip().startswith("{"):
                return False
            count += 1
    return count > 1


def _ndjson(text: str) -> Iterator[Any]:
    for number, line in enumerate(_lines(text), start=1):
        if not line.strip():
            continue
        try:
            yield loads(line)
        except (ValueError, RecursionError) as error:
            yield _Unparsable(f"line {number} is not valid JSON: {error}")


def read_file(path: Path) -> list[Any]:
    """Records of a .json, .ndjson/.jsonl, .csv or .parquet file, in the import format."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return [_from_columns(r) for r in pq.read_table(path).to_pylist()]
    # Files saved by Excel ("CSV UTF-8") and many Windows tools start with a UTF-8 byte order
    # mark: skip it, or it ends up glued to the first column name / breaks the JSON.
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as f:
            return [_from_columns(r) for r in csv.DictReader(f)]
    content_type = "application/x-ndjson" if suffix in (".ndjson", ".jsonl") else "application/json"
    return list(parse_body(path.read_bytes().removeprefix(codecs.BOM_UTF8), content_type))


def _from_columns(row: dict) -> dict:
    """A CSV/Parquet row as an import object: empty cells dropped, numbers and ranges decoded."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value is None or value == "":
            continue
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and key in ("duration_ms", "view_start", "view_end") and WHOLE_NUMBER.match(value):
            value = int(value.split(".")[0])  # "1780000001000.0" is how pandas writes ints with gaps
        if isinstance(value, str) and key == "ranges":
            try:
                value = loads(value)
            except ValueError:
                pass  # validation reports it as a bad ranges value
        if key == "ranges" and isinstance(value, list):
            value = [list(pair) if isinstance(pair, (list, tuple)) else pair for pair in value]
        out[key] = value
    return out
