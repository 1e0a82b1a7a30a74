"""The beacon collector's work at the door: route a POST's events to environments and turn
them into one journal record. Nothing here waits for the store's writer: the record is
acknowledged once the journal has it (ingestion/journal.py), and views are built from it
later, in batches (ingestion/assembler.py).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

from moments.ingestion import encoding, origins
from moments.ingestion.beacons import Envelope
from moments.ingestion.folds import BROWSER, CLOCK_OFFSET, DEVICE_TYPE, OS, RECEIVED_AT, epoch_ms
from moments.ingestion.useragent import Client
from moments.ingestion.views import event_key
from moments.model import Environment

@dataclass
class Routed:
    """What one POST brought: its events per environment, and what was left out."""

    received_at_ms: int
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    total: int = 0
    unknown_env_key: int = 0
    refused_origin: int = 0
    unusable: int = 0

    @property
    def accepted(self) -> int:
        return sum(len(events) for events in self.events.values())

    def payload(self) -> bytes:
        """The journal record's payload: {environment_id: [event fields, ...]} as JSON."""
        return encoding.dumps(self.events).encode()


class EnvKeys:
    """env_key -> Environment, remembered so a POST never waits on the store for it.

    Environments never change once created, so a found one is kept; an unknown key is
    remembered for `unknown_ttl_s` (a flood of made-up keys costs one store lookup per key
    and period, and a new environment starts receiving within that period).
    """

    def __init__(self, lookup: Callable[[str], Environment | None], unknown_ttl_s: float = 10.0,
                 max_entries: int = 100_000) -> None:
        self._lookup = lookup
        self._unknown_ttl_s = unknown_ttl_s
        self._max_entries = max_entries
        self._known: dict[str, Environment] = {}
        self._unknown: OrderedDict[str, float] = OrderedDict()

    def cached(self, env_key: str) -> tuple[bool, Environment | None]:
        """(answered, environment) from memory alone."""
        if env_key in self._known:
            return True, self._known[env_key]
        until = self._unknown.get(env_key)
        return (True, None) if until is not None and until > time.monotonic() else (False, None)

    def resolve(self, env_key: str) -> Environment | None:
        """Ask the store (blocking: call it off the event loop) and remember the answer."""
        environment = self._lookup(env_key)
        if environment is not None:
            if len(self._known) < self._max_entries:
                self._known[env_key] = environment
        else:
            self._unknown[env_key] = time.monotonic() + self._unknown_ttl_s
            self._unknown.move_to_end(env_key)
            while len(self._unknown) > self._max_entries:
                self._unknown.popitem(last=False)
        return environment


def env_key_of(value: object) -> str | None:
    # Printable text only: a lone surrogate (valid in a JSON escape) cannot even be looked up.
    return value if isinstance(value, str) and len(value) <= 128 and value.isprintable() else None


def env_keys_of(envelope: Envelope) -> set[str]:
    return {key for fields in envelope.events if (key := env_key_of(fields.get("env_key"))) is not None}


def route(envelope: Envelope, environments: dict[str, Environment | None], client: Client,
          received_at_ms: int, origin: str | None = None,
          allowed_origins: Callable[[str], tuple[str, ...]] = lambda _: ()) -> Routed:
    """The POST's usable events per environment (`environments`: every env_key it names,
    resolved) that allows the page `origin` (ingestion/origins.py), each with what the server
    knows of it added: when it arrived, the client's clock offset, and the browser, OS and
    device read from the request's headers."""
    routed = Routed(received_at_ms, total=len(envelope.events))
    permitted = {e.environment_id for e in environments.values()
                 if e is not None and origins.allowed(origin, allowed_origins(e.environment_id))}
    sent_at = epoch_ms(envelope.transmission_timestamp_ms)
    offset = received_at_ms - sent_at if sent_at else None
    context = {RECEIVED_AT: received_at_ms, CLOCK_OFFSET: offset,
               BROWSER: client.browser, OS: client.os, DEVICE_TYPE: client.device_type}
    for fields in envelope.events:
        env_key = env_key_of(fields.get("env_key"))
        environment = environments.get(env_key) if env_key is not None else None
        if environment is None:
            routed.unknown_env_key += 1
        elif environment.environment_id not in permitted:
            routed.refused_origin += 1
        elif event_key(fields) is None:
            routed.unusable += 1
        else:
            routed.events.setdefault(environment.environment_id, []).append({**fields, **context})
    return routed
