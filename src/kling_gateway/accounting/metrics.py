"""Prometheus usage metrics per account, family and model, exposed at ``/metrics``.

Counted per process when the change commits (admission) or inside the closing transaction
(settle, refund); sum them across processes. ``kling_usage_refused`` counts creates refused by
a limit, by Kling code (1101 spend cap, 1102 packs, 1303 concurrency)."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter

from .pricing import Price
from .units import MILLI

_LABELS = ["account", "family", "model"]
TASKS = Counter("kling_usage_tasks", "Tasks admitted (charged)", _LABELS)
UNITS = Counter("kling_usage_units", "Units charged at admission", _LABELS)
SECONDS = Counter("kling_usage_seconds", "Output seconds charged", _LABELS)
REFUNDED = Counter("kling_usage_failed", "Failed tasks (refunded)", _LABELS)
REFUNDED_UNITS = Counter("kling_usage_refunded_units", "Units given back for failed tasks", _LABELS)
REPRICED = Counter(
    "kling_usage_repriced_units",
    "Units moved at completion by re-pricing from the output's length (extra drawn, refund given back)",
    [*_LABELS, "direction"],
)
REFUSED = Counter("kling_usage_refused", "Creates refused by a limit, by Kling code", ["account", "code"])


# (counter, labels) -> its child: ``labels()`` takes a lock and builds a key per call, and every
# create counts here (prometheus keeps every child anyway: this holds no more than it does)
_CHILDREN: dict[tuple[Counter, tuple[str, ...]], Any] = {}


def _child(counter: Counter, *labels: str) -> Any:
    found = _CHILDREN.get((counter, labels))
    if found is None:
        found = _CHILDREN[(counter, labels)] = counter.labels(*labels)
    return found


def admitted(account_id: str, family: str, price: Price) -> None:
    labels = (account_id, family, price.model)
    _child(TASKS, *labels).inc()
    _child(UNITS, *labels).inc(price.milli / MILLI)
    if price.seconds:
        _child(SECONDS, *labels).inc(price.seconds)


def refunded(account_id: str, family: str, model: str, milli: int) -> None:
    REFUNDED.labels(account_id, family, model).inc()
    REFUNDED_UNITS.labels(account_id, family, model).inc(milli / MILLI)


def repriced(account_id: str, family: str, model: str, delta_milli: int) -> None:
    """A charge moved at completion (re-priced from the output's real length)."""
    direction = "extra" if delta_milli > 0 else "refund"
    REPRICED.labels(account_id, family, model, direction).inc(abs(delta_milli) / MILLI)


def refused(account_id: str, code: int) -> None:
    REFUSED.labels(account_id, str(code)).inc()
