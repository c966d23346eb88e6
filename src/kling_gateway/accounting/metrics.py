"""Prometheus usage metrics per account, family and model, exposed at ``/metrics``.

Counted per process when the change commits (admission) or inside the closing transaction
(settle, refund); sum them across processes. ``kling_usage_refused`` counts creates refused by
a limit, by Kling code (1101 spend cap, 1102 packs, 1303 concurrency)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import CounterMetricFamily

from .pricing import Price
from .units import MILLI

_LABELS = ["account", "family", "model"]
REFUNDED = Counter("kling_usage_failed", "Failed tasks (refunded)", _LABELS)
REFUNDED_UNITS = Counter("kling_usage_refunded_units", "Units given back for failed tasks", _LABELS)
REPRICED = Counter(
    "kling_usage_repriced_units",
    "Units moved at completion by re-pricing from the output's length (extra drawn, refund given back)",
    [*_LABELS, "direction"],
)
REFUSED = Counter("kling_usage_refused", "Creates refused by a limit, by Kling code", ["account", "code"])


class _Admitted:
    """``kling_usage_tasks``, ``_units`` and ``_seconds``: counted in plain numbers, read by
    Prometheus when it scrapes (a collector). Every create counts in all three, and a
    ``Counter``'s ``inc`` takes a lock each time; the admission counts happen on the event
    loop's thread only, so plain sums are exact. Exposed as the counters were: ``_total`` and
    ``_created`` per label set, ``_seconds`` only where seconds were charged."""

    def __init__(self) -> None:
        # (account, family, model) -> [tasks, units, seconds, created]; seconds None until charged
        self.sums: dict[tuple[str, str, str], list[Any]] = {}

    def add(self, labels: tuple[str, str, str], units: float, seconds: float | None) -> None:
        found = self.sums.get(labels)
        if found is None:
            found = self.sums[labels] = [0, 0.0, None, time.time()]
        found[0] += 1
        found[1] += units
        if seconds:
            found[2] = (found[2] or 0.0) + seconds

    def collect(self) -> Iterator[CounterMetricFamily]:
        tasks = CounterMetricFamily("kling_usage_tasks", "Tasks admitted (charged)", labels=_LABELS)
        units = CounterMetricFamily("kling_usage_units", "Units charged at admission", labels=_LABELS)
        seconds = CounterMetricFamily("kling_usage_seconds", "Output seconds charged", labels=_LABELS)
        for labels, (count, charged, length, created) in list(self.sums.items()):
            tasks.add_metric(labels, count, created=created)
            units.add_metric(labels, charged, created=created)
            if length is not None:
                seconds.add_metric(labels, length, created=created)
        yield from (tasks, units, seconds)


_ADMITTED = _Admitted()
REGISTRY.register(_ADMITTED)


def admitted(account_id: str, family: str, price: Price) -> None:
    _ADMITTED.add((account_id, family, price.model), price.milli / MILLI, price.seconds)


def refunded(account_id: str, family: str, model: str, milli: int) -> None:
    REFUNDED.labels(account_id, family, model).inc()
    REFUNDED_UNITS.labels(account_id, family, model).inc(milli / MILLI)


def repriced(account_id: str, family: str, model: str, delta_milli: int) -> None:
    """A charge moved at completion (re-priced from the output's real length)."""
    direction = "extra" if delta_milli > 0 else "refund"
    REPRICED.labels(account_id, family, model, direction).inc(abs(delta_milli) / MILLI)


def refused(account_id: str, code: int) -> None:
    REFUSED.labels(account_id, str(code)).inc()
