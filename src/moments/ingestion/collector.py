"""The beacon collector's work: route events to environments, keep each once, rebuild views."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from moments.ingestion.beacons import Envelope
from moments.ingestion.useragent import Client
from moments.ingestion.views import (BROWSER, CLOCK_OFFSET, DEVICE_TYPE, OS, RECEIVED_AT, assemble,
                                     event_key)
from moments.model import BeaconEvent, Environment
from moments.store.base import Store


@dataclass
class Outcome:
    events: int = 0
    unknown_env_key: int = 0
    unusable: int = 0
    duplicates: int = 0
    views_opened: int = 0
    views_completed: int = 0


def collect(store: Store, envelope: Envelope, client: Client, received_at_ms: int) -> Outcome:
    """Store the new events of one POST and rebuild every view they touch."""
    outcome = Outcome(events=len(envelope.events))
    offset = received_at_ms - envelope.transmission_timestamp_ms if envelope.transmission_timestamp_ms else None
    context = {RECEIVED_AT: received_at_ms, CLOCK_OFFSET: offset,
               BROWSER: client.browser, OS: client.os, DEVICE_TYPE: client.device_type}
    environments: dict[str, Environment | None] = {}
    by_environment: dict[str, list[BeaconEvent]] = defaultdict(list)
    for fields in envelope.events:
        env_key = fields.get("env_key")
        if not isinstance(env_key, str) or len(env_key) > 128:
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
    for environment_id, events in by_environment.items():
        new = store.add_beacon_events(environment_id, events)
        outcome.duplicates += len(events) - len(new)
        touched = sorted({e.view_id for e in new})
        if not touched:
            continue
        stored = store.beacon_events(environment_id, touched)
        new_per_view: dict[str, int] = defaultdict(int)
        for event in new:
            new_per_view[event.view_id] += 1
        outcome.views_opened += sum(new_per_view[v] == len(stored[v]) for v in touched)
        outcome.views_completed += len({e.view_id for e in new if e.name == "viewend"})
        store.upsert_views(environment_id, [assemble(stored[v]) for v in touched], received_at_ms)
    return outcome
