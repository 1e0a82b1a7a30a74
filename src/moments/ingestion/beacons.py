"""Decoding mux-embed beacon bodies: the envelope, and the abbreviated keys.

The SDK shortens each long key word by word (docs/collector.md, "What the endpoint
does"): the first word becomes a one-letter code, later
words two-letter codes, integers stay digits, unknown words become `_word_`, and an
unknown first word is written `word_`. Expansion reverses that with the dictionary the
SDK uses, shipped as package data (`mux_embed_keys.json`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

MAX_EVENTS_PER_BODY = 1000  # the SDK sends at most 300
# One player's queue holds its view and, after a videochange, the next: a body naming many
# views or env keys is a generator of fake views (and of env-key lookups), not a player.
MAX_VIEWS_PER_BODY = 16
MAX_ENV_KEYS_PER_BODY = 4
MAX_KEYS_PER_EVENT = 500
MAX_KEY_LENGTH = 200
MAX_NESTING = 5  # only request_* values nest, one level deep


class InvalidBeacon(ValueError):
    pass


@dataclass(frozen=True)
class Dictionary:
    first_word: dict[str, str]
    words: dict[str, str]


@lru_cache(maxsize=1)
def dictionary() -> Dictionary:
    data = json.loads(resources.files("moments.ingestion").joinpath("mux_embed_keys.json").read_text())
    return Dictionary(first_word=data["first_word"], words=data["words"])


_TOKEN = re.compile(r"_([^_]*)_|(\d+)|([a-z]{2})")


def _read_words(rest: str, words: dict[str, str]) -> list[str] | None:
    """Later words of a key: `_literal_`, an integer, or a two-letter code; None if unreadable."""
    out, position = [], 0
    while position < len(rest):
        match = _TOKEN.match(rest, position)
        if match is None:
            return None
        literal, integer, code = match.groups()
        if code is not None:
            if code not in words:
                return None
            out.append(words[code])
        else:
            out.append(literal if literal is not None else integer)
        position = match.end()
    return out


@lru_cache(maxsize=4096)
def expand_key(short: str) -> str:
    """The long name of an abbreviated key; a key that fits no rule is kept as sent."""
    table = dictionary()
    if short and short[0] in table.first_word:
        later = _read_words(short[1:], table.words)
        if later is not None:
            return "_".join([table.first_word[short[0]], *later])
    head, sep, rest = short.partition("_")
    if sep and head:
        later = _read_words(rest, table.words)
        if later is not None:
            return "_".join([head, *later])
    return short


def _depth(value: Any, limit: int) -> int:
    if limit < 0:
        raise InvalidBeacon("event values nest too deeply")
    if isinstance(value, dict):
        return 1 + max((_depth(v, limit - 1) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v, limit - 1) for v in value), default=0)
    return 0


def expand_event(event: dict) -> dict[str, Any]:
    """An event with long key names. Values are never abbreviated; nested keys are long already."""
    if len(event) > MAX_KEYS_PER_EVENT:
        raise InvalidBeacon(f"an event has more than {MAX_KEYS_PER_EVENT} keys")
    if any(len(key) > MAX_KEY_LENGTH for key in event):
        raise InvalidBeacon(f"an event key is longer than {MAX_KEY_LENGTH} characters")
    for value in event.values():
        if isinstance(value, (dict, list)):  # most values are scalars: only these can nest
            _depth(value, MAX_NESTING)
    return {expand_key(key): value for key, value in event.items()}


@dataclass(frozen=True)
class Envelope:
    transmission_timestamp_ms: int | None
    events: list[dict[str, Any]]  # expanded


def decode_body(body: bytes) -> Envelope:
    """Parse a beacon POST body; InvalidBeacon when it is not a mux-embed envelope."""
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise InvalidBeacon(f"body is not JSON: {str(error)[:200]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise InvalidBeacon("body must be an object with an 'events' array")
    events = data["events"]
    if len(events) > MAX_EVENTS_PER_BODY:
        raise InvalidBeacon(f"more than {MAX_EVENTS_PER_BODY} events in one body")
    if not all(isinstance(e, dict) for e in events):
        raise InvalidBeacon("every event must be an object")
    metadata = data.get("metadata")
    sent = metadata.get("transmission_timestamp") if isinstance(metadata, dict) else None
    sent = sent if isinstance(sent, int) and not isinstance(sent, bool) else None
    expanded = [expand_event(e) for e in events]
    if len({repr(e.get("view_id")) for e in expanded}) > MAX_VIEWS_PER_BODY:
        raise InvalidBeacon(f"events of more than {MAX_VIEWS_PER_BODY} views in one body")
    if len({repr(e.get("env_key")) for e in expanded}) > MAX_ENV_KEYS_PER_BODY:
        raise InvalidBeacon(f"more than {MAX_ENV_KEYS_PER_BODY} env keys in one body")
    return Envelope(sent, expanded)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
