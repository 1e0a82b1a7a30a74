"""Request bodies in the OpenAPI document, from the limits the code enforces.

The routes read their bodies raw (size caps, NDJSON, field-by-field messages), so FastAPI
cannot see them; these schemas describe them to clients and to API fuzzers (schemathesis).
"""

from __future__ import annotations

from moments.ingestion import assets, beacons, imports, origins
from moments.store import rows

_ID = {"type": "string", "minLength": 1, "maxLength": rows.MAX_ID_LENGTH}
_PATH_SAFE_ID = {**_ID, "pattern": r"^[^/\s]+$"}
_TEXT = {"type": "string", "maxLength": rows.MAX_DIMENSION_LENGTH}
_TIME = {"oneOf": [{"type": "integer", "minimum": imports.MIN_EPOCH_MS, "maximum": imports.MAX_EPOCH_MS},
                   {"type": "string", "format": "date-time"}]}
_MEDIA_MS = {"type": "integer", "minimum": 0, "maximum": imports.MAX_MEDIA_MS}
_SECONDS = {"type": "number", "minimum": 0, "maximum": assets.MAX_MEDIA_S}

VIEW = {
    "type": "object",
    "required": ["view_id", "view_start", "duration_ms", "ranges"],
    "additionalProperties": False,
    "properties": {
        "view_id": _ID, "asset_id": _PATH_SAFE_ID, "playback_id": _PATH_SAFE_ID, "video_id": _ID,
        "view_start": _TIME, "view_end": _TIME,
        "duration_ms": {**_MEDIA_MS, "minimum": 1},
        "ranges": {"type": "array", "maxItems": imports.MAX_RANGES_PER_VIEW,
                   "items": {"type": "array", "minItems": 2, "maxItems": 2, "items": _MEDIA_MS}},
        **{name: _TEXT for name in ("sdk_name", "sdk_version") + rows.DIMENSIONS},
    },
}

IMPORT = {"requestBody": {
    "required": True,
    "description": "Views: a JSON array (or one object), or NDJSON (one view per line). Bodies above "
                   "MOMENTS_MAX_IMPORT_BYTES (64 MiB) are a 413. The answer, `{\"data\": {\"accepted\", "
                   "\"rejected_total\", \"rejected\"}}`, counts the views stored and the views rejected, and "
                   f"lists the first {imports.MAX_ECHOED_REJECTIONS} rejected ones (`index`: the record's position "
                   "from 0, `view_id`, `messages`); a rejected view stores nothing.",
    "content": {
        "application/json": {"schema": {"oneOf": [{"type": "array", "items": VIEW}, VIEW]}},
        "application/x-ndjson": {"schema": {"type": "string"}},
    },
}}

ASSET = {"requestBody": {
    "required": True,
    "description": "At most 256 KiB.",
    "content": {"application/json": {"schema": {
        "type": "object",
        "required": ["duration_ms"],
        "additionalProperties": False,
        "properties": {
            "duration_ms": {**_MEDIA_MS, "minimum": 1},
            "playback_ids": {"type": "array", "maxItems": assets.MAX_PLAYBACK_IDS, "items": _PATH_SAFE_ID},
            "playback_url": {"type": "string", "maxLength": assets.MAX_URL_LENGTH, "pattern": "^https?://"},
            "chapters": {
                "type": "array", "maxItems": assets.MAX_CHAPTERS,
                "description": "Mux Player's addChapters shape, times in seconds; by start or not, none overlapping, "
                               "each within duration_ms. Without endTime a chapter lasts until the next one starts, "
                               "or the content ends.",
                "items": {"type": "object", "required": ["startTime", "value"], "additionalProperties": False,
                          "properties": {"startTime": _SECONDS, "endTime": {"anyOf": [_SECONDS, {"type": "null"}]},
                                         "value": {"type": "string", "minLength": 1,
                                                   "maxLength": assets.MAX_TITLE_LENGTH}}},
            },
        },
    }}},
}}

_ENVELOPE = {
    "type": "object",
    "required": ["events"],
    "properties": {
        "metadata": {"type": "object", "properties": {"transmission_timestamp": {"type": "integer"}}},
        "events": {"type": "array", "maxItems": beacons.MAX_EVENTS_PER_BODY, "items": {
            "type": "object", "maxProperties": beacons.MAX_KEYS_PER_EVENT,
            "description": "A mux-embed event with abbreviated keys (docs/collector.md).",
            "properties": {"ake": {"type": "string", "description": "env_key"},
                           "xid": {"type": "string", "description": "view_id"},
                           "xsqno": {"type": "integer", "description": "view_sequence_number"},
                           "e": {"type": "string", "description": "event"}},
        }},
    },
}

BEACONS = {"requestBody": {
    "required": True,
    "description": "A mux-embed beacon batch, as the SDK sends it (text/plain). At most 1 MiB, "
                   f"events of at most {beacons.MAX_VIEWS_PER_BODY} views and "
                   f"{beacons.MAX_ENV_KEYS_PER_BODY} env keys.",
    "content": {"text/plain": {"schema": _ENVELOPE}, "application/json": {"schema": _ENVELOPE}},
}}

ENVIRONMENT = {"requestBody": {
    "required": True,
    "description": "The sites the environment takes beacons from, checked against each beacon request's "
                   "Origin (or Referer): origins (`https://example.com`), hosts (`example.com`, any scheme "
                   f"and port), subdomains (`*.example.com`) and `{origins.NO_ORIGIN}` (requests without "
                   "either header: native players). An empty list takes beacons from anywhere.",
    "content": {"application/json": {"schema": {
        "type": "object", "required": ["allowed_origins"], "additionalProperties": False,
        "properties": {"allowed_origins": {"type": "array", "maxItems": origins.MAX_PATTERNS,
                                           "items": {"type": "string", "maxLength": 300}}},
    }}},
}}
