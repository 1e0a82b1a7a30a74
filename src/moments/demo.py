"""The demo environment: a few pieces of content with simulated audiences and planted moments."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from moments import accounts
from moments.model import Asset, Environment
from moments.simulate import Audience, Moment, Scenario, simulate_views
from moments.store.base import Store

DEMO_ENV_NAME = "demo"


@dataclass(frozen=True)
class DemoContent:
    asset_id: str
    playback_ids: tuple[str, ...]
    video_id: str
    audience: Audience


CONTENT = (
    DemoContent("demo-trailer", ("demotrailerpb01",), "trailer-2026",
                Audience(duration_ms=90_000, n_views=3000, hazard_per_minute=0.3, seed=1,
                         moments=(Moment(40_000, 52_000, "peak", 0.35),))),
    DemoContent("demo-keynote", ("demokeynotepb01", "demokeynotepb02"), "keynote-2026",
                Audience(duration_ms=1_800_000, n_views=4000, hazard_per_minute=0.03, hazard_growth=1.0, seed=2,
                         moments=(Moment(300_000, 420_000, "valley", 0.5), Moment(1_200_000, 1_290_000, "peak", 0.3)))),
    DemoContent("demo-tutorial", ("demotutorialpb1",), "tutorial-setup",
                Audience(duration_ms=420_000, n_views=2500, hazard_per_minute=0.08, seed=3,
                         moments=(Moment(60_000, 90_000, "valley", 0.45), Moment(250_000, 280_000, "peak", 0.3)))),
)
# Short clips of about the trailer's length, with no planted moments: the "similar content" the
# trailer's relative retention is measured against (docs/engagement.md, "Compared with what").
PEERS = tuple(
    DemoContent(f"demo-clip-{i + 1}", (f"democlip{i + 1}pb01",), f"clip-{i + 1}",
                Audience(duration_ms=duration_ms, n_views=400, hazard_per_minute=hazard, seed=20 + i))
    for i, (duration_ms, hazard) in enumerate(((60_000, 0.5), (80_000, 0.4), (110_000, 0.6), (150_000, 0.45)))
)
DIMENSIONS = (
    {"country": "US", "browser": "Chrome", "os": "macOS", "device_type": "desktop", "player_name": "web"},
    {"country": "DE", "browser": "Safari", "os": "iOS", "device_type": "phone", "player_name": "ios"},
)


def find_demo_environment(store: Store) -> Environment | None:
    return store.get_environment(DEMO_ENV_NAME)


def load_demo(store: Store) -> tuple[Environment, accounts.IssuedToken]:
    """Create the demo environment (id 'demo') with fresh data and a new read/write token."""
    environment = find_demo_environment(store)
    if environment is None:
        environment = Environment(DEMO_ENV_NAME, "Demo", accounts.new_env_key(), retention_days=100,
                                  rate_limit_per_s=50.0, rate_limit_burst=100)
        store.create_environment(environment)
    now_ms = int(time.time() * 1000)
    for content in CONTENT + PEERS:
        store.put_asset(environment.environment_id,
                        Asset(content.asset_id, content.audience.duration_ms, content.playback_ids))
        for half, dims in enumerate(DIMENSIONS):
            audience = content.audience
            part = replace(audience, n_views=audience.n_views // 2, seed=audience.seed * 10 + half)
            scenario = Scenario(view_id_prefix=f"{content.asset_id}-{half}", asset_id=content.asset_id,
                                playback_ids=content.playback_ids, video_id=content.video_id,
                                start_ms=now_ms - 6 * 86_400_000, span_ms=6 * 86_400_000 - 3_600_000,
                                sdk=("mux-embed", "5.19.0"), dimensions=dims)
            store.upsert_views(environment.environment_id, simulate_views(part, scenario), now_ms)
    token = accounts.issue_token(store, environment.environment_id, ("read", "write"))
    return environment, token
