"""What push channels show: the task object as of one status change, read once per change.

Callbacks and event streams announce *past* changes too (a retried ``processing`` callback, an
event stream resumed from the start). The store keeps the current row and the list of
``task_events``; since a task only moves forward (submitted → processing → succeed | failed) and
its result, failure message and deduction are written only by the terminal change, the object as
of an earlier change is the current row with that status and time and without the terminal
fields. URLs are signed when the object is built, so a late delivery still carries fresh links.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..present import UrlSigner, task_object
from ..schemas import TERMINAL_STATUSES
from ..standard2 import is_standard2
from ..standard2.records import record
from ..store import TaskRow, TaskStore
from .hub import TaskChange

T = TypeVar("T")


def row_as_of(row: TaskRow, status: str, at: int) -> TaskRow:
    """``row`` as it stood right after its change to ``status`` at ``at`` (ms)."""
    if status == row.status:
        return row
    return dataclasses.replace(
        row,
        status=status,
        updated_at=at,
        status_msg="",
        result=None,
        final_unit_deduction=None,
        finished_at=None,
    )


async def event_object(
    row: TaskRow, status: str, at: int, signer: UrlSigner, base_url: str
) -> dict[str, Any]:
    """The wire task object (:func:`~kling_gateway.present.task_object`) as of one change; for a
    task of the new standard its record (spec kling-api-more.md §6: the bare record)."""
    shown = row_as_of(row, status, at)
    await signer.prepare_rows([shown])  # presigned storage URLs, when configured
    if is_standard2(shown.family):
        return record(shown, signer, base_url)
    return task_object(shown, signer, base_url)


@dataclass(frozen=True)
class TaskView:
    """A task row and its whole event history, read together."""

    row: TaskRow
    events: list[tuple[int, str, int]]  # (event id, status, created_at ms), oldest first

    @property
    def terminal(self) -> bool:
        return self.row.status in TERMINAL_STATUSES


class SharedReads:
    """Coalesces store reads: every request woken by the same change shares one read.

    A read started after a change was published reflects that change (publishing follows the
    commit), so it may serve every waiter the change woke; the result is kept ``keep_s`` seconds
    for stragglers. Requests that time out together share a read too.
    """

    def __init__(self, store: TaskStore, keep_s: float = 2.0):
        self.store = store
        self.keep_s = keep_s
        self.reads = 0  # store reads actually made (one per key)
        self.served = 0  # answers handed out
        self._inflight: dict[Hashable, asyncio.Future[Any]] = {}

    async def _shared(self, key: Hashable, make: Callable[[], Awaitable[T]]) -> T:
        self.served += 1
        future = self._inflight.get(key)
        if future is None:
            self.reads += 1
            future = asyncio.ensure_future(make())
            self._inflight[key] = future
            loop = asyncio.get_running_loop()

            def forget(done: asyncio.Future[Any]) -> None:
                failed = done.cancelled() or done.exception() is not None
                loop.call_later(0 if failed else self.keep_s, self._forget, key, done)

            future.add_done_callback(forget)
        return await asyncio.shield(future)

    def _forget(self, key: Hashable, future: asyncio.Future[Any]) -> None:
        if self._inflight.get(key) is future:
            del self._inflight[key]

    async def row(self, task_id: str, change: TaskChange | None, *, tick: float = 0.5) -> TaskRow | None:
        """The task after ``change``; without one, a read shared within ``tick`` seconds."""
        key = ("row", task_id, _generation(change, tick))
        return await self._shared(key, lambda: self.store.get(task_id))

    async def view(self, task_id: str, change: TaskChange | None) -> TaskView | None:
        """Row and events after ``change``; without one, a fresh read of this caller's own."""
        if change is None:
            self.served += 1
            self.reads += 1
            return await self._read_view(task_id)
        return await self._shared(("view", task_id, _generation(change, 0)), lambda: self._read_view(task_id))

    async def _read_view(self, task_id: str) -> TaskView | None:
        row = await self.store.get(task_id)
        if row is None:
            return None
        return TaskView(row, await self.store.events(task_id))

    def stats(self) -> dict[str, int]:
        return {"store_reads": self.reads, "served": self.served}


def _generation(change: TaskChange | None, tick: float) -> Hashable:
    if change is not None:
        return (change.status, change.updated_at)
    loop_time = asyncio.get_running_loop().time()
    return ("tick", int(loop_time / tick))
