"""In-process change notifications: who is waiting on which task, and who wants every change.

Long-poll and event-stream requests wait on a task's future instead of querying the store on a
tick; the callback dispatcher and the relay subscribe to all changes. Cross-process delivery
(PostgreSQL LISTEN/NOTIFY, see :mod:`.pgbridge`) feeds the same hub from outside.

Missed-wake guard: a request reads the task, then waits. A change published between the two
would be lost, so the hub remembers the latest change of recently changed tasks
(:meth:`ChangeHub.latest`) and offers :meth:`ChangeHub.watch`, which registers a waiter
synchronously, before the caller's next read.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

LATEST_KEPT = 10_000  # tasks whose last change is remembered (LRU)


@dataclass(frozen=True)
class TaskChange:
    task_id: str
    account_id: str
    status: str
    updated_at: int
    family: str = ""  # set where known (creation); new-standard tasks announce "submitted" too


Listener = Callable[[TaskChange], Awaitable[None] | None]


class ChangeHub:
    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Future[TaskChange]]] = {}
        self._listeners: list[Listener] = []
        self._latest: OrderedDict[str, TaskChange] = OrderedDict()
        self.published = 0

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def publish(self, change: TaskChange) -> None:
        """Wake every waiter of the task and tell every listener. Never blocks, never raises."""
        self.published += 1
        self._latest[change.task_id] = change
        self._latest.move_to_end(change.task_id)
        if len(self._latest) > LATEST_KEPT:
            self._latest.popitem(last=False)
        for future in self._waiters.pop(change.task_id, ()):
            if not future.done():
                future.set_result(change)
        for listener in self._listeners:
            try:
                outcome = listener(change)
                if asyncio.iscoroutine(outcome):
                    asyncio.get_running_loop().create_task(outcome)
            except Exception:  # a listener's bug must not break a status change
                pass

    def watch(self, task_id: str) -> asyncio.Future[TaskChange]:
        """Register now for the next change of ``task_id``; pair with :meth:`unwatch`."""
        future: asyncio.Future[TaskChange] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(task_id, set()).add(future)
        return future

    def unwatch(self, task_id: str, future: asyncio.Future[TaskChange]) -> None:
        current = self._waiters.get(task_id)
        if current is not None:
            current.discard(future)
            if not current:
                self._waiters.pop(task_id, None)

    async def wait(self, task_id: str, timeout: float) -> TaskChange | None:
        """The next change of ``task_id`` within ``timeout`` seconds, else None."""
        future = self.watch(task_id)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return None
        finally:
            self.unwatch(task_id, future)

    def latest(self, task_id: str) -> TaskChange | None:
        """The last change published for ``task_id``, if it is still remembered."""
        return self._latest.get(task_id)

    def waiting(self, task_id: str) -> int:
        return len(self._waiters.get(task_id, ()))

    def stats(self) -> dict[str, int]:
        return {
            "published": self.published,
            "waiting_tasks": len(self._waiters),
            "waiters": sum(len(w) for w in self._waiters.values()),
        }
