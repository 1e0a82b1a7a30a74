"""Copy one store into another, whatever their backends (DuckDB to ClickHouse, and back).

Everything goes through the `Store` interface: environments with their env keys and allowed
origins, tokens with their secret hashes (the same secrets work on the copy), registered
assets with their playback IDs, then every view, in progress or not. Beacon views keep their
folds, so a view still playing carries on where it was; the target computes its own rollups.
The store's own secrets (Store.store_secret) stay behind: the demo gets a token of the target's.
Both stores must be closed to everyone else (a running server holds them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pyarrow as pa
import pyarrow.compute as pc

from moments.model import Scope
from moments.store.base import Store
from moments.store.rows import views_from_arrow

ALL_TIME = (0, 2**62)  # every view_start_ms a store can hold
MAX_IDS = 2**31  # list_scope_ids without a practical limit


@dataclass
class Copied:
    environments: int = 0
    tokens: int = 0
    assets: int = 0
    views: int = 0


def copy_store(source: Store, target: Store, progress: Callable[[Copied], None] = lambda _: None) -> Copied:
    """Copy every environment of `source` into `target`, which must hold none (ValueError)."""
    if target.environments():
        raise ValueError("the target store already holds environments: copy into a new, empty store")
    copied = Copied()
    for environment in source.environments():
        environment_id = environment.environment_id
        target.create_environment(environment)
        copied.environments += 1
        for token, created_at_ms in source.tokens(environment_id):
            target.create_token(token, created_at_ms)
            copied.tokens += 1
        # Assets before views: the views' rollups are then built once, on the registered grids.
        for asset_id, _views in source.list_scope_ids(environment_id, Scope.ASSET, None, MAX_IDS):
            asset = source.get_asset(environment_id, asset_id)
            if asset is not None:  # an id only seen on views has nothing to register
                target.put_asset(environment_id, asset)
                copied.assets += 1
        for batch in source.export_views(environment_id, *ALL_TIME, in_progress=True):
            _copy_views(source, target, environment_id, batch)
            copied.views += batch.num_rows
            progress(copied)
    return copied


def _copy_views(source: Store, target: Store, environment_id: str, batch: pa.Table) -> None:
    """Views as stored; beacon views that have a fold (ingestion/folds.py) together with it."""
    folds = source.view_folds(environment_id, batch["view_id"].to_pylist())
    folded = pc.is_in(batch["view_id"], pa.array(list(folds), pa.string()))
    plain = batch.filter(pc.invert(folded))
    if plain.num_rows:
        target.bulk_upsert_views(plain)  # received_at_ms and last_event_ms as they are
    with_folds = batch.filter(folded)
    if with_folds.num_rows:
        views = views_from_arrow(with_folds)
        target.upsert_beacon_views(environment_id, views, [folds[v.view_id] for v in views],
                                   with_folds["received_at_ms"].to_pylist())
