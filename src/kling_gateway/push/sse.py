"""Server-Sent Events for one task: one event per status change, ending after the terminal one.

Each event is ``id: <task_events id>``, ``event: <status>``, ``data: <task object as of that
change>`` (see :func:`.views.event_object`). ``Last-Event-ID`` resumes after that event: history
comes from ``task_events``, so a reconnecting client misses nothing and sees nothing twice. While
the task is idle the stream sends a comment line every ``sse_keepalive_seconds``.

The stream registers for the task's next change *before* each read, so a change committed while
it reads still wakes it; streams woken by the same change share one read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from ..present import UrlSigner
from ..schemas.encoding import dumps
from .hub import ChangeHub, TaskChange
from .views import SharedReads, event_object

RETRY_MS = 2000


def format_event(event_id: int, status: str, data: dict[str, object]) -> bytes:
    return f"id: {event_id}\nevent: {status}\ndata: {dumps(data)}\n\n".encode()


async def task_events_stream(
    task_id: str,
    *,
    after: int,
    hub: ChangeHub,
    reads: SharedReads,
    signer: UrlSigner,
    base_url: str,
    keepalive: float,
) -> AsyncIterator[bytes]:
    """The event stream of ``task_id`` from the event after ``after`` (0 = from the start)."""
    yield f"retry: {RETRY_MS}\n\n".encode()
    change: TaskChange | None = None
    while True:
        watcher = hub.watch(task_id)
        try:
            view = await reads.view(task_id, change)
            if view is None:
                return
            latest_id = view.events[-1][0] if view.events else 0
            if latest_id > after:
                await signer.prepare_rows([view.row])  # S3 presigned URLs, when configured
            for event_id, status, at in view.events:
                if event_id <= after:
                    continue
                obj = await event_object(view.row, status, at, signer, base_url)
                yield format_event(event_id, status, obj)
                after = event_id
            if view.terminal and after >= latest_id:
                return
            while True:
                try:
                    change = await asyncio.wait_for(asyncio.shield(watcher), keepalive)
                    break
                except TimeoutError:
                    yield b": keep-alive\n\n"
        finally:
            hub.unwatch(task_id, watcher)
