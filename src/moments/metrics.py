"""Operational counters, exposed on /metrics in Prometheus text format."""

from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Request latency buckets (seconds): beacon POSTs and cached reads take a millisecond or less,
# an uncached heatmap over many views tens to hundreds, an export or a backup seconds.
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Requests are labelled by route template (bounded, unlike paths), method and status class.
REQUEST_LABELS = ("route", "method", "status")


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
        self.beacon_refused_origin = counter("moments_beacon_refused_origin_events",
                                             "Beacon events from a page their environment does not allow")
        self.beacon_unusable = counter("moments_beacon_unusable_events",
                                       "Beacon events without a usable view_id or sequence number")
        self.views_opened = counter("moments_views_opened", "Views first seen from beacons")
        self.views_completed = counter("moments_views_completed", "Views completed by viewend or the idle timeout")
        self.beacon_overloaded = counter("moments_beacon_overloaded_requests",
                                         "Beacon POSTs answered 503 because the assembler was too far behind")
        self.beacon_over_budget = counter("moments_beacon_over_budget_requests",
                                          "Beacon POSTs answered 429 because their env key or client address spent its byte budget")
        self.beacon_over_cap = counter("moments_beacon_over_cap_events",
                                       "Beacon events dropped because their view reached its event cap")
        self.beacon_far_ahead = counter("moments_beacon_far_ahead_events",
                                        "Beacon events refused: numbered far past the highest of their view")
        self.beacon_imported_view = counter("moments_beacon_imported_view_events",
                                            "Beacon events refused: their view_id names an imported view")
        self.ingest_batches = counter("moments_ingest_batches", "Journal batches applied to the store")
        self.ingest_views_written = counter("moments_ingest_views_written", "Views written by the assembler")
        self.http_requests = Counter("moments_http_requests", "HTTP requests answered by this process",
                                     REQUEST_LABELS, registry=self.registry)
        self.http_request_duration = Histogram("moments_http_request_duration_seconds",
                                               "Time from a request's arrival to the end of its answer",
                                               REQUEST_LABELS, buckets=LATENCY_BUCKETS_S, registry=self.registry)

    def watch_ingest(self, lag_s: Callable[[], float], backlog_bytes: Callable[[], float]) -> None:
        """Gauges read when scraped: how far the assembler is behind the journal."""
        Gauge("moments_ingest_lag_seconds", "Age of the oldest acknowledged beacon record not yet applied",
              registry=self.registry).set_function(lag_s)
        Gauge("moments_ingest_backlog_bytes",
              "Bytes acknowledged but not yet applied (on ClickHouse: local journals and the shared inbox)",
              registry=self.registry).set_function(backlog_bytes)

    def count_applied(self, applied) -> None:
        """One assembler batch's outcome (ingestion.assembler.Applied)."""
        self.ingest_batches.inc()
        self.beacon_duplicates.inc(applied.duplicates)
        self.beacon_over_cap.inc(applied.over_cap)
        self.beacon_far_ahead.inc(applied.far_ahead)
        self.beacon_imported_view.inc(applied.imported_view)
        self.ingest_views_written.inc(applied.views_written)
        self.views_opened.inc(applied.views_opened)
        self.views_completed.inc(applied.views_completed)

    def count_request(self, route: str, method: str, status: int, duration_s: float) -> None:
        """One answered request (api/observe.py): status by class (2xx, 4xx, ...)."""
        labels = (route, method, f"{status // 100}xx")
        self.http_requests.labels(*labels).inc()
        self.http_request_duration.labels(*labels).observe(duration_s)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
