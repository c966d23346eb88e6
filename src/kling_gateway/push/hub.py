"""In-process change notifications: who is waiting on which task, and who wants every change.

Long-poll and event-stream requests wait on a task's future instead of querying the store on a
tick; the callback dispatcher and the relay subscribe to all changes. Cross-process delivery
(PostgreSQL LISTEN/NOTIFY) feeds the same hub from outside.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class TaskChange:
    task_id: str
    account_id: str
    status: str
    updated_at: int


Listener = Callable[[TaskChange], Awaitable[None] | None]


class ChangeHub:
    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Future[TaskChange]]] = {}
        self._listeners: list[Listener] = []
        self.published = 0

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def publish(self, change: TaskChange) -> None:
        """Wake every waiter of the task and tell every listener. Never blocks, never raises."""
        self.published += 1
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

    async def wait(self, task_id: str, timeout: float) -> TaskChange | None:
        """The next change of ``task_id`` within ``timeout`` seconds, else None."""
        future: asyncio.Future[TaskChange] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(task_id, set())
        waiters.add(future)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return None
        finally:
            current = self._waiters.get(task_id)
            if current is not None:
                current.discard(future)
                if not current:
                    self._waiters.pop(task_id, None)

    def waiting(self, task_id: str) -> int:
        return len(self._waiters.get(task_id, ()))
