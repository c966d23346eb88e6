"""Prometheus metrics of the relay, exposed at ``/metrics`` (default registry).

Names are stable; the benchmark reads them: upstream status calls per finished task is
``kling_relay_status_calls_total / kling_relay_finished_total``; freshness percentiles come from
``kling_relay_freshness_seconds`` (labelled by how the gateway learnt of the end: callback or poll).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SUBMITS = Counter(
    "kling_relay_submits", "Create calls sent upstream, by outcome", ["channel", "outcome"]
)  # ok, rejected, busy, down, adopted
FAILOVERS = Counter(
    "kling_relay_failovers",
    "Times a task moved on from a channel without submitting there",
    ["channel", "reason"],
)
STATUS_CALLS = Counter(
    "kling_relay_status_calls", "Upstream status queries (single task or list)", ["channel", "kind"]
)
CALLBACKS = Counter(
    "kling_relay_callbacks", "Upstream callbacks received, by upstream status", ["channel", "status"]
)
ERRORS = Counter("kling_relay_errors", "Upstream errors by Kling code", ["channel", "code"])
FINISHED = Counter(
    "kling_relay_finished", "Relayed tasks that reached a terminal state", ["channel", "status"]
)
MIRRORED_BYTES = Counter(
    "kling_relay_mirrored_bytes", "Bytes of result files copied into storage", ["channel"]
)
FRESHNESS = Histogram(
    "kling_relay_freshness_seconds",
    "Upstream finished (its updated_at) -> the gateway has the outcome",
    ["channel", "via"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300),
)
BREAKER_OPEN = Gauge("kling_relay_breaker_open", "1 while a channel's circuit breaker is open", ["channel"])
