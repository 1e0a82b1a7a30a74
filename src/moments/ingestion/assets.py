"""The asset registration body: {"duration_ms", "playback_ids", "playback_url", "chapters"}.

Chapters come in the shape Mux Player's `addChapters` takes: [{"startTime": s, "endTime": s
(optional), "value": title}], times in seconds.
"""

from __future__ import annotations

import html
import math
from typing import Any

import webvtt

from moments.ingestion.imports import MAX_MEDIA_MS, duration, identifier, is_int, quoted, shown
from moments.model import Asset, Chapter

MAX_PLAYBACK_IDS = 100
MAX_URL_LENGTH = 2048
MAX_CHAPTERS = 500
MAX_TITLE_LENGTH = 200
FIELDS = ("duration_ms", "playback_ids", "playback_url", "chapters")
CHAPTER_FIELDS = ("startTime", "endTime", "value")
MAX_MEDIA_S = MAX_MEDIA_MS // 1000


class InvalidAsset(ValueError):
    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


def validate_asset(asset_id: str, body: Any) -> Asset:
    if not isinstance(body, dict):
        raise InvalidAsset(["body must be a JSON object"])
    errors: list[str] = []
    unknown = sorted(quoted(str(k)[:40]) for k in body if k not in FIELDS)
    if unknown:
        errors.append(f"unknown field(s): {', '.join(unknown)}")
    duration_ms = duration("duration_ms", body.get("duration_ms"), errors)
    playback_ids = body.get("playback_ids", [])
    if not isinstance(playback_ids, list) or len(playback_ids) > MAX_PLAYBACK_IDS:
        errors.append(f"playback_ids must be an array of at most {MAX_PLAYBACK_IDS} strings")
        playback_ids = []
    checked = [identifier("playback_ids[]", p, errors, path_safe=True) for p in playback_ids]
    url = body.get("playback_url")
    if url is not None and not (isinstance(url, str) and len(url) <= MAX_URL_LENGTH
                                and url.startswith(("https://", "http://"))):
        errors.append(f"playback_url must be an http(s) URL of at most {MAX_URL_LENGTH} characters")
    chapters = validate_chapters(body.get("chapters", []), duration_ms, errors)
    if errors:
        raise InvalidAsset(errors)
    return Asset(asset_id, duration_ms, tuple(dict.fromkeys(p for p in checked if p)), url, chapters)


def validate_chapters(chapters: Any, duration_ms: int | None, errors: list[str]) -> tuple[Chapter, ...]:
    """The chapters by start; each problem appended to `errors`, named by the chapter's index.
    Each chapter lies within the asset (when its duration is valid) and none overlaps the next."""
    if not isinstance(chapters, list) or len(chapters) > MAX_CHAPTERS:
        errors.append(f"chapters must be an array of at most {MAX_CHAPTERS} objects")
        return ()
    found: list[tuple[Chapter, int]] = []
    for index, item in enumerate(chapters):
        chapter = _chapter(f"chapters[{index}]", item, duration_ms, errors)
        if chapter is not None:
            found.append((chapter, index))
    found.sort(key=lambda pair: pair[0].start_ms)
    for (chapter, index), (following, next_index) in zip(found, found[1:]):
        if following.start_ms == chapter.start_ms:
            errors.append(f"chapters[{index}] and chapters[{next_index}] both start at {chapter.start_ms / 1000:g} s")
        elif chapter.end_ms is not None and chapter.end_ms > following.start_ms:
            errors.append(f"chapters[{index}] ends at {chapter.end_ms / 1000:g} s, after chapters[{next_index}] "
                          f"starts ({following.start_ms / 1000:g} s): chapters must not overlap")
    return tuple(chapter for chapter, _ in found)


def _chapter(name: str, item: Any, duration_ms: int | None, errors: list[str]) -> Chapter | None:
    if not isinstance(item, dict):
        errors.append(f"{name} must be an object with startTime, value and optionally endTime")
        return None
    before = len(errors)
    unknown = sorted(quoted(str(k)[:40]) for k in item if k not in CHAPTER_FIELDS)
    if unknown:
        errors.append(f"{name}: unknown field(s): {', '.join(unknown)}")
    start = _seconds(f"{name}.startTime", item.get("startTime"), errors, required=True)
    end = _seconds(f"{name}.endTime", item.get("endTime"), errors, required=False)
    title = item.get("value")
    if not isinstance(title, str) or not 1 <= len(title) <= MAX_TITLE_LENGTH:
        errors.append(f"{name}.value must be the chapter's title: a string of 1..{MAX_TITLE_LENGTH} characters")
    elif not title.isprintable():
        errors.append(f"{name}.value must not contain control characters")
    if start is not None and end is not None and end <= start:
        errors.append(f"{name}.endTime must be after its startTime")
    if duration_ms is not None and start is not None and start >= duration_ms:
        errors.append(f"{name}.startTime ({start / 1000:g} s) must be before the asset's end ({duration_ms / 1000:g} s)")
    if duration_ms is not None and end is not None and end > duration_ms:
        errors.append(f"{name}.endTime ({end / 1000:g} s) must not be after the asset's end ({duration_ms / 1000:g} s)")
    if len(errors) > before or start is None:
        return None
    return Chapter(start, end, title)


def _seconds(name: str, value: Any, errors: list[str], *, required: bool) -> int | None:
    """A time in seconds (a JSON number), in ms."""
    if value is None:
        if required:
            errors.append(f"{name} is required: seconds from the start")
        return None
    if not (is_int(value) or isinstance(value, float)) or not math.isfinite(value):
        errors.append(f"{name}: expected a number of seconds, got {shown(value)}")
        return None
    if not 0 <= value <= MAX_MEDIA_S:
        errors.append(f"{name} must be in 0..{MAX_MEDIA_S} seconds, got {value}")
        return None
    return round(value * 1000)



def chapters_from_webvtt(text: str) -> list[dict]:
    """A WebVTT chapters file's cues, in the shape the asset body takes (then checked like any
    other chapters); ValueError naming what cannot be read. A cue's title is its text on one
    line, tags dropped and character references decoded."""
    try:
        captions = webvtt.from_string(text).captions
    except webvtt.errors.MalformedFileError as error:
        raise ValueError(f"not a WebVTT file ({error}): it must start with a WEBVTT line") from None
    timings = [(number, line) for number, line in enumerate(text.splitlines(), 1) if "-->" in line]
    if len(captions) != len(timings):  # webvtt-py skips what it cannot read
        unread = next(number for number, line in timings if not webvtt.from_string(f"WEBVTT\n\n{line}\nx\n").captions)
        raise ValueError(f"line {unread}: a cue timing that is not HH:MM:SS.mmm --> HH:MM:SS.mmm")
    return [{"startTime": caption.start_time.in_milliseconds() / 1000,
             "endTime": caption.end_time.in_milliseconds() / 1000,
             "value": html.unescape(" ".join(caption.text.split()))} for caption in captions]
