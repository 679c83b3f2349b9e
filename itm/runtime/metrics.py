"""Every Prometheus metric the shared runtime records, in one place.

Names follow the Prometheus naming guide: one ``itm_`` prefix, base units,
``_total`` counters, and no per-employee or per-opportunity labels.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

BUILD_INFO = Info("itm_build", "Build and service identity")

GRPC_REQUESTS = Counter("itm_grpc_requests_total", "gRPC requests handled", ["service", "method", "code"])
GRPC_LATENCY = Histogram(
    "itm_grpc_request_duration_seconds", "gRPC request latency", ["service", "method"], buckets=LATENCY_BUCKETS
)

DEPENDENCY_UP = Gauge("itm_dependency_up", "1 when the dependency answered the last check", ["dependency"])

OUTBOX_BACKLOG = Gauge("itm_outbox_backlog", "Events written to the outbox and not yet acked by Kafka")
OUTBOX_LAG = Gauge("itm_outbox_relay_lag_seconds", "Age of the oldest unpublished outbox entry")
EVENTS_PRODUCED = Counter("itm_events_produced_total", "Events acked by the broker", ["topic"])
PUBLISH_FAILURES = Counter("itm_outbox_publish_failures_total", "Relay batches that failed and will be retried")

EVENTS_CONSUMED = Counter("itm_events_consumed_total", "Events processed", ["topic", "consumer"])
EVENTS_DUPLICATE = Counter("itm_events_duplicate_total", "Redelivered events skipped by dedupe", ["topic", "consumer"])
DEAD_LETTERS = Counter("itm_dead_letters_total", "Events sent to the dead-letter topic", ["topic", "consumer"])
CONSUMER_LAG = Gauge(
    "itm_consumer_lag", "High watermark minus committed offset", ["topic", "partition", "consumer"]
)
CONSUMER_STALLED = Gauge(
    "itm_consumer_stalled", "1 while the consumer has held one record of the partition longer than "
    "ITM_CONSUMER_STALL_S without getting past it", ["topic", "partition", "consumer"]
)
EVENT_HANDLE_LATENCY = Histogram(
    "itm_event_handle_duration_seconds", "Time to handle one event", ["consumer"], buckets=LATENCY_BUCKETS
)


def bare_topic(full_name: str, prefix: str) -> str:
    """Topic label without the deployment prefix, keeping label values bounded."""
    return full_name[len(prefix):] if prefix and full_name.startswith(prefix) else full_name
