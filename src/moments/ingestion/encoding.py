"""JSON for the pipeline's own records (journal payloads, view folds): orjson, exactly.

Beacon values are read by the standard library's parser, which keeps integers of any size
and lone surrogates (valid JSON escapes); orjson refuses both when writing and would read a
big integer back as a float. So a value orjson cannot write is written by the standard
library behind a marker, and read back by it: every value reads back as it was written, and
the common case takes orjson's speed (several times the standard library's).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_FALLBACK = "~"


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer past 64 bits, or a lone surrogate
        return _FALLBACK + json.dumps(value, separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    if isinstance(text, bytes):
        text = text.decode()
    return json.loads(text[1:]) if text.startswith(_FALLBACK) else orjson.loads(text)
