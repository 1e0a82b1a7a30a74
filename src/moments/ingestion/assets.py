"""The asset registration body: {"duration_ms", "playback_ids", "playback_url"}."""

from __future__ import annotations

from typing import Any

from moments.ingestion.imports import duration, identifier, quoted
from moments.model import Asset

MAX_PLAYBACK_IDS = 100
MAX_URL_LENGTH = 2048


class InvalidAsset(ValueError):
    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


def validate_asset(asset_id: str, body: Any) -> Asset:
    if not isinstance(body, dict):
        raise InvalidAsset(["body must be a JSON object"])
    errors: list[str] = []
    unknown = sorted(quoted(str(k)[:40]) for k in body if k not in ("duration_ms", "playback_ids", "playback_url"))
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
    if errors:
        raise InvalidAsset(errors)
    return Asset(asset_id, duration_ms, tuple(dict.fromkeys(p for p in checked if p)), url)

