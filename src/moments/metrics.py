"""Operational counters, exposed on /metrics in Prometheus text format."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest


class Metrics:
    """One registry per app, so several apps in one process (tests) keep their own counts."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()

        def counter(name: str, doc: str) -> Counter:
            return Counter(name, doc, registry=self.registry)

        self.beacon_requests = counter("moments_beacon_requests", "Beacon POSTs received")
        self.beacon_rejected_bodies = counter("moments_beacon_rejected_bodies", "Beacon bodies rejected as malformed")
        self.beacon_events = counter("moments_beacon_events", "Beacon events received")
        self.beacon_duplicates = counter("moments_beacon_duplicate_events", "Beacon events dropped as duplicates")
        self.beacon_unknown_env = counter("moments_beacon_unknown_env_key_events",
                                          "Beacon events discarded for an unknown env_key")
        self.beacon_unusable = counter("moments_beacon_unusable_events",
                                       "Beacon events without a usable view_id or sequence number")
        self.views_opened = counter("moments_views_opened", "Views first seen from beacons")
        self.views_completed = counter("moments_views_completed", "Views completed by viewend or the idle timeout")

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
