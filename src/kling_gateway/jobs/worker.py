"""Starting a process's task workers, and the ``kling-gateway worker`` process (workers, no HTTP).

With the local backend a worker is the in-process claim loop (:class:`Dispatcher`), limited to the
engines of its queues. With the procrastinate backend it runs procrastinate workers per queue plus
a one-slot, slow fallback claim loop (see :mod:`.distributed`). Either way the process also runs
the reconciler and sweeper, which are safe to run in many processes at once (every change they
make is a compare-and-set), and publishes status changes through the gateway's change hub, which
the PostgreSQL bridge forwards to the API processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..config import Settings
from .dispatcher import Dispatcher
from .distributed import engines_for

if TYPE_CHECKING:
    from ..gateway import Gateway

log = logging.getLogger("kling_gateway.jobs")


async def start_workers(gateway: Gateway) -> Dispatcher:
    """Start the workers of ``gateway`` (its router already filled); returns the claim loop."""
    settings = gateway.settings
    engines = engines_for(gateway.queues, gateway.router.names)
    args = (gateway.tasks, gateway.router, gateway.storage, gateway.hub, settings)
    if gateway.distributed is None:
        dispatcher = Dispatcher(*args, engines=engines)
        await dispatcher.start()
        return dispatcher
    fallback = settings.job_fallback_seconds
    dispatcher = Dispatcher(
        *args, concurrency=1, engines=engines, poll_interval=fallback, claim_grace=fallback
    )
    await dispatcher.start()
    await gateway.distributed.start_workers(dispatcher, gateway.queues, settings.workers)
    return dispatcher


async def run_worker_process(settings: Settings, queues: Sequence[str]) -> None:
    """Run workers until SIGTERM or SIGINT, then stop gracefully (running jobs get a few seconds;
    a task cut short keeps its lease until it expires and is then retried)."""
    from ..gateway import Gateway

    gateway = Gateway(settings, queues=queues)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await gateway.start()
    log.info(
        "worker started: queues=%s concurrency=%d backend=%s",
        ",".join(gateway.queues),
        settings.workers,
        settings.job_backend,
    )
    print(
        f"kling-gateway worker ready: queues={','.join(gateway.queues)} concurrency={settings.workers} "
        f"backend={settings.job_backend}",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await gateway.stop()
