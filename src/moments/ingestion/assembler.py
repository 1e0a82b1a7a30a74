"""The beacon assembler: journal records in, views out, in batches, in the background.

Pipeline, per batch: read the durable records every journal holds past its applied mark
(at most `batch_bytes`) -> group their events by environment and view -> fold the new events
into each touched view's stored fold (duplicates and events past the cap drop out here) ->
assemble the changed views -> write views, rollups and folds, one transaction per
environment -> mark the records applied. A crash anywhere in between replays the records,
which then change nothing they already changed (folds are idempotent).
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from dataclasses import dataclass

from moments.ingestion import encoding
from moments.ingestion.drain import Drain
from moments.ingestion.folds import ViewFold
from moments.ingestion.journal import Journals, Record
from moments.ingestion.views import event_key, view_from_fold
from moments.model import BeaconEvent
from moments.store.base import Store

# Records per batch: a batch is one write transaction, which readers of the same store wait
# for, so batches stay small enough to keep that wait short.
BATCH_BYTES = 2 * 1024 * 1024
# Playing views whose folds stay in memory (about 1 KB each): a site's concurrent viewers.
FOLD_CACHE_VIEWS = 50_000


@dataclass
class Applied:
    """What one batch did."""

    records: int = 0
    events: int = 0
    duplicates: int = 0
    far_ahead: int = 0
    imported_view: int = 0  # events naming an imported view, refused
    over_cap: int = 0
    views_written: int = 0
    views_opened: int = 0
    views_completed: int = 0


class FoldCache:
    """The stored folds of the views written most recently (an LRU of their JSON): a playing
    view's next POST finds its fold here, not by a search of the store. Coherent because
    this assembler is the only writer of folds to its store; entries change only after the
    store committed them."""

    def __init__(self, max_views: int = FOLD_CACHE_VIEWS) -> None:
        self.max_views = max_views
        self._folds: OrderedDict[tuple[str, str], str] = OrderedDict()

    def stored(self, store: Store, environment_id: str, view_ids: list[str]) -> dict[str, str]:
        """The stored folds of these views (absent: none stored)."""
        found = {v: fold for v in view_ids if (fold := self._folds.get((environment_id, v))) is not None}
        missing = [v for v in view_ids if v not in found]
        if missing:
            from_store = store.view_folds(environment_id, missing)
            self.remember(environment_id, from_store)
            found.update(from_store)
        return found

    def remember(self, environment_id: str, folds: dict[str, str]) -> None:
        for view_id, fold in folds.items():
            self._folds[(environment_id, view_id)] = fold
            self._folds.move_to_end((environment_id, view_id))
        while len(self._folds) > self.max_views:
            self._folds.popitem(last=False)


def apply_events(store: Store, environment_id: str, events: list[tuple[BeaconEvent, int]], applied: Applied,
                 cache: FoldCache) -> None:
    """Fold (event, received_at_ms) pairs of one environment into their views and store them."""
    view_ids = sorted({event.view_id for event, _ in events})
    stored = cache.stored(store, environment_id, view_ids)
    folds = {view_id: ViewFold.from_json(stored[view_id]) if view_id in stored else ViewFold() for view_id in view_ids}
    ended_before = {view_id for view_id, fold in folds.items() if fold.end is not None}
    received: dict[str, int] = {}
    # In sequence order, so a batch applied again refuses the same events as far ahead (folds.py).
    for event, received_at_ms in sorted(events, key=lambda pair: pair[0].sequence):
        outcome = folds[event.view_id].add(event)
        if outcome == "new":
            received[event.view_id] = max(received.get(event.view_id, 0), received_at_ms)
        elif outcome == "duplicate":
            applied.duplicates += 1
        elif outcome == "far_ahead":
            applied.far_ahead += 1
        else:
            applied.over_cap += 1
    changed = sorted(received)
    refused: set[str] = set()  # ids of imported views: beacons never change one
    if changed:
        written = {v: folds[v].to_json() for v in changed}
        refused = store.upsert_beacon_views(environment_id, [view_from_fold(v, folds[v]) for v in changed],
                                            list(written.values()), [received[v] for v in changed])
        cache.remember(environment_id, {v: fold for v, fold in written.items() if v not in refused})
    kept = [v for v in changed if v not in refused]
    applied.events += len(events)
    applied.imported_view += sum(event.view_id in refused for event, _ in events)
    applied.views_written += len(kept)
    applied.views_opened += sum(view_id not in stored for view_id in kept)
    applied.views_completed += sum(view_id not in ended_before and folds[view_id].end is not None for view_id in kept)


def apply_records(store: Store, records: list[Record], cache: FoldCache | None = None) -> Applied:
    """Apply journal records (payloads: ingestion.collector.Routed.payload)."""
    cache = cache or FoldCache(0)
    applied = Applied(records=len(records))
    per_environment: dict[str, list[tuple[BeaconEvent, int]]] = defaultdict(list)
    for record in records:
        for environment_id, fields_list in encoding.loads(record.payload).items():
            for fields in fields_list:
                event = event_key(fields)
                if event is not None:  # checked at the door; a record from an older version may differ
                    per_environment[environment_id].append((event, record.at_ms))
    for environment_id, events in per_environment.items():
        apply_events(store, environment_id, events, applied, cache)
    return applied


class Assembler(Drain):
    """Drains every journal under a root (ingestion.journal.Journals) into the store, on a
    thread of its own: the direct path, for a store one process holds (DuckDB)."""

    def __init__(self, store: Store, journals: Journals, on_applied=None, batch_bytes: int = BATCH_BYTES) -> None:
        super().__init__(journals, "assembler")
        self.store = store
        self.batch_bytes = batch_bytes
        self.on_applied = on_applied or (lambda applied: None)
        self.folds = FoldCache()

    def apply_once(self) -> int:
        """Apply one batch from each journal; the number of records applied."""
        total = 0
        for reader in self.journals.readers():
            records, position = self.journals.read(reader, self.batch_bytes)
            if records:
                applied = apply_records(self.store, records, self.folds)
                self.on_applied(applied)
                total += len(records)
            reader.mark_applied(position)
        return total

    def drain_once(self) -> tuple[int, bool]:
        return self.apply_once(), False
