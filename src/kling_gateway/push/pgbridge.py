"""Change notifications across processes on PostgreSQL: LISTEN/NOTIFY on ``kling_task_changes``.

Every change published in this process is sent with ``pg_notify`` (after its commit, from a
connection of the bridge's own); every change another process sends is published into the local
hub, which wakes long-polls, event streams and the callback dispatcher here. Notifications carry
the sender's origin id, so a process ignores its own, and changes that came from outside are
never sent back out (no echo loops).

Notifications are best effort: while the bridge is reconnecting, waiters fall back to their
timeouts and callbacks to the dispatcher's periodic sweep; nothing durable depends on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets

import psycopg
from sqlalchemy.engine import make_url

from .hub import ChangeHub, TaskChange

log = logging.getLogger("kling_gateway.push")

CHANNEL = "kling_task_changes"
QUEUE_LIMIT = 10_000


def libpq_url(sqlalchemy_url: str) -> str:
    """``postgresql+psycopg://…`` → ``postgresql://…`` for a plain psycopg connection."""
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgBridge:
    def __init__(self, hub: ChangeHub, database_url: str, *, retry_s: float = 1.0):
        self.hub = hub
        self.conninfo = libpq_url(database_url)
        self.origin = secrets.token_hex(6)
        self.retry_s = retry_s
        self._outbox: asyncio.Queue[TaskChange] | None = None
        self._incoming: TaskChange | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.listening = asyncio.Event()
        self.sent = 0
        self.received = 0
        self.dropped = 0
        hub.add_listener(self._on_local_change)

    async def start(self) -> None:
        self._outbox = asyncio.Queue(QUEUE_LIMIT)
        self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._send())]
        with contextlib.suppress(TimeoutError):  # not fatal: the listener keeps retrying
            await asyncio.wait_for(self.listening.wait(), 5.0)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    def _on_local_change(self, change: TaskChange) -> None:
        if change is self._incoming or self._outbox is None:
            return  # came from another process: do not send it back
        try:
            self._outbox.put_nowait(change)
        except asyncio.QueueFull:
            self.dropped += 1

    async def _send(self) -> None:
        assert self._outbox is not None
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True) as conn:
                    while True:
                        change = await self._outbox.get()
                        payload = json.dumps(
                            {
                                "o": self.origin,
                                "t": change.task_id,
                                "a": change.account_id,
                                "s": change.status,
                                "u": change.updated_at,
                            },
                            separators=(",", ":"),
                        )
                        await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
                        self.sent += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("change notifications: sending connection lost (%s); reconnecting", exc)
                await asyncio.sleep(self.retry_s)

    async def _listen(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    async for notice in conn.notifies():
                        self._receive(notice.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.listening.clear()
                log.warning("change notifications: listening connection lost (%s); reconnecting", exc)
                await asyncio.sleep(self.retry_s)

    def _receive(self, payload: str) -> None:
        try:
            data = json.loads(payload)
            if data.get("o") == self.origin:
                return
            change = TaskChange(str(data["t"]), str(data["a"]), str(data["s"]), int(data["u"]))
        except (ValueError, KeyError, TypeError):
            log.warning("change notifications: ignoring malformed payload %r", payload[:200])
            return
        self.received += 1
        self._incoming = change
        try:
            self.hub.publish(change)
        finally:
            self._incoming = None

    def stats(self) -> dict[str, int | bool]:
        return {
            "sent": self.sent,
            "received": self.received,
            "dropped": self.dropped,
            "listening": self.listening.is_set(),
        }
