"""The demo environment: content with simulated audiences and planted moments, made to show
every feature on a fresh install:

- hotspots: planted peaks and valleys (CONTENT);
- relative retention: each content has at least three peers of similar length (PEERS);
- filters: two audiences that watch differently (SEGMENTS: phone viewers leave sooner);
- comparing timeframes: the week before this one, when viewers left sooner (PREVIOUS_WEEK);
- watching along: the trailer plays from a small video the server ships (VIDEO_PATH);
- chapters: the three main contents have them, a planted valley in a chapter of its own.

Loading it again (every `serve --demo`) rewrites the same views at times relative to now, and
gives the same token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass, replace

from moments import accounts
from moments.api.routes.demo_video import VIDEO_PATH
from moments.model import Asset, Chapter, Environment, Token
from moments.lab.simulate import Audience, Moment, Scenario, simulate_views
from moments.store.base import Store

DEMO_ENV_NAME = "demo"
DAY_MS = 86_400_000
VIDEO_ASSET = "demo-trailer"


@dataclass(frozen=True)
class DemoContent:
    asset_id: str
    playback_ids: tuple[str, ...]
    video_id: str
    audience: Audience
    chapters: tuple[Chapter, ...] = ()


def _chapters(*marks: tuple[int, str]) -> tuple[Chapter, ...]:
    """Chapters that each last until the next one starts: (start in seconds, title)."""
    return tuple(Chapter(start_s * 1000, None, title) for start_s, title in marks)


@dataclass(frozen=True)
class Segment:
    """A share of every content's views, with the dimensions they carry and how they watch."""

    dimensions: dict
    share: float
    hazard_factor: float  # times the content's chance per minute of leaving
    intro_drop: float  # share who leave within the first seconds


@dataclass(frozen=True)
class Period:
    """A stretch of days the views start in, and how that week's viewers differed."""

    name: str
    days_ago: int  # the stretch starts this many days ago and lasts six days
    share: float  # of the content's views
    hazard_factor: float


CONTENT = (
    DemoContent("demo-trailer", ("demotrailerpb01",), "trailer-2026",
                Audience(duration_ms=90_000, n_views=3000, hazard_per_minute=0.3, seed=1,
                         moments=(Moment(40_000, 52_000, "peak", 0.35),)),
                _chapters((0, "Opening"), (40, "The chase"), (75, "Credits"))),
    DemoContent("demo-keynote", ("demokeynotepb01", "demokeynotepb02"), "keynote-2026",
                Audience(duration_ms=1_800_000, n_views=4000, hazard_per_minute=0.03, hazard_growth=1.0, seed=2,
                         moments=(Moment(300_000, 420_000, "valley", 0.5), Moment(1_200_000, 1_290_000, "peak", 0.3))),
                _chapters((0, "Welcome"), (300, "Roadmap"), (420, "Customers"), (1200, "Live demo"), (1500, "Q&A"))),
    DemoContent("demo-tutorial", ("demotutorialpb1",), "tutorial-setup",
                Audience(duration_ms=420_000, n_views=2500, hazard_per_minute=0.08, seed=3,
                         moments=(Moment(60_000, 90_000, "valley", 0.45), Moment(250_000, 280_000, "peak", 0.3))),
                _chapters((0, "Before you start"), (60, "Install"), (90, "Configure"), (250, "First run"),
                          (360, "Recap"))),
)


def _peers(kind: str, shapes: tuple[tuple[int, float], ...], seed: int) -> tuple[DemoContent, ...]:
    return tuple(DemoContent(f"demo-{kind}-{i + 1}", (f"demo{kind}{i + 1}pb01",), f"{kind}-{i + 1}",
                             Audience(duration_ms=duration_ms, n_views=200, hazard_per_minute=hazard, seed=seed + i))
                 for i, (duration_ms, hazard) in enumerate(shapes))


# Contents within a factor of two of each CONTENT's length, with no planted moments: what its
# relative retention is measured against (docs/engagement.md, "Compared with what").
PEERS = (
    _peers("clip", ((60_000, 0.5), (80_000, 0.4), (110_000, 0.6), (150_000, 0.45)), seed=20),  # the trailer's
    _peers("howto", ((240_000, 0.1), (330_000, 0.07), (600_000, 0.12)), seed=30),  # the tutorial's
    _peers("talk", ((1_200_000, 0.04), (1_560_000, 0.05), (2_700_000, 0.03)), seed=40),  # the keynote's
)
SEGMENTS = (
    Segment({"country": "US", "browser": "Chrome", "os": "macOS", "device_type": "desktop", "player_name": "web"},
            share=0.55, hazard_factor=0.6, intro_drop=0.08),
    Segment({"country": "DE", "browser": "Safari", "os": "iOS", "device_type": "phone", "player_name": "ios"},
            share=0.45, hazard_factor=2.0, intro_drop=0.25),
)
THIS_WEEK = Period("now", days_ago=6, share=1.0, hazard_factor=1.0)
PREVIOUS_WEEK = Period("before", days_ago=13, share=0.4, hazard_factor=1.8)


def find_demo_environment(store: Store) -> Environment | None:
    return store.get_environment(DEMO_ENV_NAME)


def load_demo(store: Store, base_url: str | None = None) -> tuple[Environment, accounts.IssuedToken]:
    """Create or refresh the demo environment (id 'demo'): its views placed in the last two
    weeks, and its read/write token. With the server's `base_url`, the trailer plays from the
    video the server ships."""
    environment = find_demo_environment(store)
    if environment is None:
        environment = Environment(DEMO_ENV_NAME, "Demo", accounts.new_env_key(), retention_days=100,
                                  rate_limit_per_s=50.0, rate_limit_burst=100)
        store.create_environment(environment)
    now_ms = int(time.time() * 1000)
    views = []
    for content in CONTENT + tuple(peer for group in PEERS for peer in group):
        playback_url = f"{base_url}{VIDEO_PATH}" if base_url and content.asset_id == VIDEO_ASSET else None
        asset = Asset(content.asset_id, content.audience.duration_ms, content.playback_ids, playback_url,
                      content.chapters)
        if store.get_asset(environment.environment_id, asset.asset_id) != asset:  # a change rebuilds its rollups
            store.put_asset(environment.environment_id, asset)
        for period in (THIS_WEEK, PREVIOUS_WEEK) if content in CONTENT else (THIS_WEEK,):
            views += period_views(content, period, now_ms)
    store.upsert_views(environment.environment_id, views, now_ms)  # one write: its rollups built once
    return environment, demo_token(store, environment)


def period_views(content: DemoContent, period: Period, now_ms: int) -> list:
    """The content's views in one period: each segment's share, watching its own way."""
    views = []
    for number, segment in enumerate(SEGMENTS):
        audience = content.audience
        part = replace(audience, n_views=round(audience.n_views * segment.share * period.share),
                       hazard_per_minute=audience.hazard_per_minute * segment.hazard_factor * period.hazard_factor,
                       intro_drop=segment.intro_drop, seed=audience.seed * 100 + period.days_ago * 10 + number)
        scenario = Scenario(view_id_prefix=f"{content.asset_id}-{period.name}-{number}", asset_id=content.asset_id,
                            playback_ids=content.playback_ids, video_id=content.video_id,
                            start_ms=now_ms - period.days_ago * DAY_MS, span_ms=6 * DAY_MS - 3_600_000,
                            sdk=("mux-embed", "5.19.0"), dimensions=segment.dimensions)
        views += simulate_views(part, scenario)
    return views


def demo_token(store: Store, environment: Environment) -> accounts.IssuedToken:
    """The demo's read/write token, the same on every load of the same store, so a dashboard
    signed in or a shell with its variables exported keeps working across restarts (and
    restarts mint no tokens). Its id and secret derive from a random value the store keeps
    and never serves (not from the demo's env key, which every beacon carries)."""
    key = store.store_secret("demo token").encode()
    token_id = str(uuid.UUID(bytes=_derived(key, b"moments demo token id")[:16], version=4))
    secret = base64.urlsafe_b64encode(_derived(key, b"moments demo token secret")).rstrip(b"=").decode()
    token = Token(token_id, environment.environment_id, accounts.hash_secret(secret), ("read", "write"))
    stored = store.get_token(token_id)
    if stored is None:  # first load, or revoked since: the demo has its token again
        store.create_token(token)
    elif stored.secret_hash != token.secret_hash:  # rotated since: the demo's secret is the one printed
        store.set_token_secret(token_id, token.secret_hash)
    return accounts.IssuedToken(token, secret)


def _derived(key: bytes, purpose: bytes) -> bytes:
    return hmac.new(key, purpose, hashlib.sha256).digest()
