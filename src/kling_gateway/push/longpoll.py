"""Long-poll (``Prefer: wait=N``) on a task query, and the headers that go with it.

A waiting request costs no store query while it waits: it parks on the hub until the task
changes. When a change wakes many requests at once they share one re-read (:class:`SharedReads`),
and requests whose wait runs out together share one read of the current state.

The client says which state it has seen with ``If-None-Match: <ETag of an earlier answer>``;
otherwise it is the state at request time. The answer comes as soon as the status differs from
the seen one (also at once when it already does) or is terminal, else after N seconds with the
current state. Every task answer carries ``ETag``; an honoured wait adds ``Preference-Applied``.
"""

from __future__ import annotations

import re
import time
from typing import Any, Protocol

from ..schemas import TERMINAL_STATUSES, TaskStatus
from ..store import TaskRow, TaskStore
from .hub import ChangeHub
from .views import SharedReads

_ETAG = re.compile(r'"([a-z]+)-(\d+)"')
STATUSES = frozenset(TaskStatus)


# OpenAPI documentation of the headers (the route reads them from the request directly).
REQUEST_HEADERS: list[dict[str, Any]] = [
    {
        "name": "Prefer",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "example": "wait=30"},
        "description": "`wait=N` (N ≤ 60 s): long-poll until the status differs from the one last seen",
    },
    {
        "name": "If-None-Match",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "the `ETag` of an earlier answer: the state the client has seen",
    },
]
RESPONSE_HEADERS: dict[str, Any] = {
    "ETag": {
        "description": 'weak tag of the task state, `W/"<task_status>-<updated_at>"`',
        "schema": {"type": "string"},
    },
    "Preference-Applied": {
        "description": "`wait=N` when a long-poll was honoured",
        "schema": {"type": "string"},
    },
}


class _State(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def updated_at(self) -> int: ...


def etag_of(row: _State) -> str:
    """Weak ETag naming the task's state: status and last change time."""
    return f'W/"{row.status}-{row.updated_at}"'


def seen_status(if_none_match: str | None) -> str | None:
    """The status named by an ETag in ``If-None-Match`` (first one that parses), else None."""
    if not if_none_match:
        return None
    for match in _ETAG.finditer(if_none_match):
        if match.group(1) in STATUSES:
            return match.group(1)
    return None


def answer_headers(etag: str, wait_seconds: float) -> dict[str, str]:
    """``ETag`` (:func:`etag_of` the row shown) and, when a wait was asked for and honoured,
    ``Preference-Applied``."""
    if wait_seconds <= 0:
        return {"ETag": etag}
    shown = int(wait_seconds) if wait_seconds == int(wait_seconds) else wait_seconds
    return {"ETag": etag, "Preference-Applied": f"wait={shown}", "Vary": "Prefer, If-None-Match"}


class LongPoller:
    def __init__(self, hub: ChangeHub, store: TaskStore):
        self.hub = hub
        self.reads = SharedReads(store)
        self.waits = 0
        self.woken = 0
        self.expired = 0

    async def wait(self, row: TaskRow, seconds: float, seen: str | None = None) -> TaskRow:
        """``row`` or a newer state of it, following the rules in the module docstring."""
        seen = seen or row.status
        if row.status != seen or row.status in TERMINAL_STATUSES or seconds <= 0:
            return row
        self.waits += 1
        deadline = time.monotonic() + seconds
        # A change published after ``row`` was read but before we wait is kept in latest().
        change = self.hub.latest(row.id)
        while True:
            if change is not None and change.status != seen and change.updated_at >= row.updated_at:
                self.woken += 1
                return (await self.reads.row(row.id, change)) or row
            remaining = deadline - time.monotonic()
            woke = None if remaining <= 0 else await self.hub.wait(row.id, remaining)
            if woke is None:
                break
            change = woke if woke.status != seen else (self.hub.latest(row.id) or woke)
        self.expired += 1
        return (await self.reads.row(row.id, None)) or row

    def stats(self) -> dict[str, int]:
        return {"waits": self.waits, "woken": self.woken, "expired": self.expired, **self.reads.stats()}
