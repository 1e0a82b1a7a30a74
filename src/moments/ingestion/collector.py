"""The beacon collector's work: route events to environments, keep each once, rebuild views."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass

from moments.ingestion.beacons import Envelope
from moments.ingestion.useragent import Client
from moments.ingestion.views import (BROWSER, CLOCK_OFFSET, DEVICE_TYPE, OS, RECEIVED_AT, assemble, epoch_ms,
                                     event_key)
from moments.model import BeaconEvent, Environment
from moments.store.base import Store

# One POST at a time per process: two POSTs of one view that each read the stored events
# before the other wrote its own would each store a view missing the other's events.
_SERIAL = threading.Lock()


@dataclass
class Outcome:
    events: int = 0
    unknown_env_key: int = 0
    unusable: int = 0
    duplicates: int = 0
    views_opened: int = 0
    views_completed: int = 0


def _env_key(value: object) -> str | None:
    # Printable text only: a lone surrogate (valid in a JSON escape) cannot even be looked up.
    return value if isinstance(value, str) and len(value) <= 128 and value.isprintable() else None


def collect(store: Store, envelope: Envelope, client: Client, received_at_ms: int) -> Outcome:
    """Store the new events of one POST and rebuild every view they touch."""
    outcome = Outcome(events=len(envelope.events))
    sent_at = epoch_ms(envelope.transmission_timestamp_ms)
    offset = received_at_ms - sent_at if sent_at else None
    context = {RECEIVED_AT: received_at_ms, CLOCK_OFFSET: offset,
               BROWSER: client.browser, OS: client.os, DEVICE_TYPE: client.device_type}
    environments: dict[str, Environment | None] = {}
    by_environment: dict[str, list[BeaconEvent]] = defaultdict(list)
    for fields in envelope.events:
        env_key = _env_key(fields.get("env_key"))
        if env_key is None:
            outcome.unknown_env_key += 1
            continue
        if env_key not in environments:
            environments[env_key] = store.environment_by_env_key(env_key)
        environment = environments[env_key]
        event = event_key({**fields, **context})
        if environment is None:
            outcome.unknown_env_key += 1
        elif event is None:
            outcome.unusable += 1
        else:
            by_environment[environment.environment_id].append(event)
    with _SERIAL:
        for environment_id, events in by_environment.items():
            _store_events(store, environment_id, events, received_at_ms, outcome)
    return outcome


def _store_events(store: Store, environment_id: str, events: list[BeaconEvent], received_at_ms: int,
                  outcome: Outcome) -> None:
    """Rebuild the views that get new events, then store those events.

    In this order, a crash between the two writes (no 2xx, so the SDK re-sends) leaves the
    events new on the retry, which rebuilds the views again. Stored first, they would be
    dropped as duplicates on the retry and their views never rebuilt.
    """
    stored = store.beacon_events(environment_id, sorted({e.view_id for e in events}))
    known = {(e.view_id, e.sequence) for view_events in stored.values() for e in view_events}
    new: dict[tuple[str, int], BeaconEvent] = {}
    for event in events:  # the first copy of an event wins, as in the store
        if (event.view_id, event.sequence) not in known:
            new.setdefault((event.view_id, event.sequence), event)
    outcome.duplicates += len(events) - len(new)
    if not new:
        return
    new_per_view: dict[str, list[BeaconEvent]] = defaultdict(list)
    for event in new.values():
        new_per_view[event.view_id].append(event)
    outcome.views_opened += sum(view_id not in stored for view_id in new_per_view)
    outcome.views_completed += sum(any(e.name == "viewend" for e in view_events)
                                   for view_events in new_per_view.values())
    views = [assemble(stored.get(view_id, []) + view_events) for view_id, view_events in sorted(new_per_view.items())]
    store.upsert_views(environment_id, views, received_at_ms)
    store.add_beacon_events(environment_id, list(new.values()))
