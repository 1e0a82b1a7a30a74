"""View assembly: from mux-embed events (delta-encoded, possibly duplicated, out of order)
to one `View` per view_id.

Events are folded per view (ingestion/folds.py): a duplicate of (view_id,
view_sequence_number) is dropped by the fold, and the view is assembled from the fold each
time new events arrive. The fold is stored with the view, so nothing lives only in this
process's memory: views survive restarts and can be split over many POSTs.
"""

from __future__ import annotations

import json
import re
import statistics
from typing import Any

from moments.ingestion.folds import BROWSER, DEVICE_TYPE, OS, ViewFold, as_int, epoch_ms, fold_events
from moments.ingestion.imports import MAX_MEDIA_MS, MAX_RANGES_PER_VIEW
from moments.ingestion.sdks import is_known_sdk, reports_ranges
from moments.model import CUSTOM_FIELDS, BeaconEvent, View
from moments.store.rows import MAX_DIMENSION_LENGTH, MAX_ID_LENGTH

# Client clocks off by less than this are trusted as they are (network latency is noise).
TRUSTED_SKEW_MS = 60_000
MUX_STREAM_URL = re.compile(r"^https?://stream\.mux\.com/([A-Za-z0-9]{1,128})(?:[./?#]|\Z)")
RANGE_ITEM = re.compile(r"^(\d{1,12}):(\d{1,12})\Z")


def _text(value: Any, limit: int = MAX_DIMENSION_LENGTH) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and 0 < len(value) <= limit and value.isprintable():
        return value
    return None


def event_key(fields: dict[str, Any]) -> BeaconEvent | None:
    """The identity of an expanded event, or None when it has no usable view_id/sequence."""
    view_id = _text(fields.get("view_id"), MAX_ID_LENGTH)
    sequence = as_int(fields.get("view_sequence_number"))
    if view_id is None or sequence is None or not 0 <= sequence < 2**31:
        return None
    # Printable text only: a lone surrogate (valid in JSON escapes) cannot be stored as UTF-8.
    return BeaconEvent(view_id, sequence, _text(fields.get("event"), 64) or "", fields)


def parse_ranges(text: Any) -> tuple[tuple[int, int], ...]:
    """`video_playback_range`: a JSON string of "start:end" items (ms). Bad items are skipped."""
    if not isinstance(text, str):
        return ()
    try:
        items = json.loads(text)
    except ValueError:
        return ()
    if not isinstance(items, list):
        return ()
    pairs = []
    for item in items[:MAX_RANGES_PER_VIEW]:
        match = RANGE_ITEM.match(item) if isinstance(item, str) else None
        if match:
            start, end = int(match.group(1)), int(match.group(2))
            if start < end <= MAX_MEDIA_MS:
                pairs.append((start, end))
    return tuple(pairs)


def playback_id_from_url(url: Any) -> str | None:
    """The playback ID of a Mux stream URL (stream.mux.com/{ID}.m3u8 and its variants)."""
    match = MUX_STREAM_URL.match(url) if isinstance(url, str) else None
    return match.group(1) if match else None


def sdk_identities(state: dict[str, Any]) -> list[tuple[str, str | None]]:
    """The SDKs involved, outermost first: a Mux integration (e.g. Mux Player, named in
    player_software_name/version) and the mux-embed core that tracks the ranges. Each must
    be new enough for the view to count."""
    found = []
    software = _text(state.get("player_software_name"))
    if software and is_known_sdk(software):
        found.append((software, _text(state.get("player_software_version"))))
    if _text(state.get("mux_embed_version")):
        found.append((_text(state.get("mux_embed")) or "mux-embed", _text(state.get("mux_embed_version"))))
    elif _text(state.get("player_mux_plugin_version")):
        # mux-embed's own <video> monitor carries mux-embed's version.
        plugin = _text(state.get("player_mux_plugin_name"))
        name = "mux-embed" if plugin in (None, "VideoElementMonitor") else plugin
        found.append((name, _text(state.get("player_mux_plugin_version"))))
    return found


def assemble(events: list[BeaconEvent]) -> View:
    """One View from the events of one view_id."""
    return view_from_fold(events[0].view_id, fold_events(events))


def view_from_fold(view_id: str, fold: ViewFold) -> View:
    """The View a view's folded events describe."""
    state = fold.state()
    offsets = [offset for _, offset in fold.offsets]
    skew = int(statistics.median(offsets)) if offsets else 0
    skew = skew if abs(skew) > TRUSTED_SKEW_MS else 0
    first_ms = fold.first_time[1] if fold.first_time else (fold.first_received[1] if fold.first_received else 0)
    start = epoch_ms(state.get("view_start")) or first_ms
    if fold.first_received and start + skew > fold.first_received[1] + TRUSTED_SKEW_MS:
        # A view cannot start after the server first heard of it: a start in the future
        # would outlive the environment's retention.
        start = fold.first_received[1] - skew
    end = fold.end[1] if fold.end else None
    duration = as_int(state.get("video_source_duration")) or as_int(state.get("video_duration")) or 0
    sdks = sdk_identities(state)
    sdk_name, sdk_version = sdks[0] if sdks else (None, None)
    live = state.get("video_source_is_live") is True
    dimensions = {k: v for k, v in ((k, _text(state[k])) for k in state if k in CUSTOM_FIELDS) if v}
    return View(
        view_id=view_id,
        view_start_ms=start + skew,
        view_end_ms=(max(end, start) + skew) if end is not None else None,
        duration_ms=duration if 0 < duration <= MAX_MEDIA_MS else 0,
        ranges=parse_ranges(state.get("video_playback_range")),
        playback_id=playback_id_from_url(state.get("video_source_url")),
        video_id=_text(state.get("video_id"), MAX_ID_LENGTH),
        sdk_name=sdk_name,
        sdk_version=sdk_version,
        browser=_text(state.get(BROWSER)),
        os=_text(state.get(OS)),
        device_type=_text(state.get(DEVICE_TYPE)),
        player_name=_text(state.get("player_name")),
        last_event_ms=(fold.last_time if fold.last_time is not None else first_ms) + skew,
        reports_ranges=all(reports_ranges(name, version) for name, version in sdks) and not live,
        dimensions=dimensions,
    )
