"""Starting a process's task workers (the ``kling-gateway worker`` process itself is
:func:`kling_gateway.gateway.run_worker_process`).

With the local backend a worker is the in-process claim loop (:class:`Dispatcher`), limited to the
engines of its queues. With the procrastinate backend it runs procrastinate workers per queue plus
a one-slot, slow fallback claim loop (see :mod:`.distributed`). Either way the process also runs
the reconciler and sweeper, which are safe to run in many processes at once (every change they
make is a compare-and-set), and publishes status changes through the gateway's change hub, which
the PostgreSQL bridge forwards to the API processes.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..config import Settings
from ..engines.router import EngineRouter
from ..push import ChangeHub
from ..storage import Storage
from ..store import TaskStore
from .dispatcher import Dispatcher
from .distributed import DistributedJobs, engines_for


async def start_workers(
    store: TaskStore,
    router: EngineRouter,
    storage: Storage,
    hub: ChangeHub,
    settings: Settings,
    *,
    queues: Sequence[str],
    distributed: DistributedJobs | None,
) -> Dispatcher:
    """Start a process's workers for ``queues`` (``router`` already filled); returns the claim loop."""
    engines = engines_for(queues, router.names)
    args = (store, router, storage, hub, settings)
    if distributed is None:
        dispatcher = Dispatcher(*args, engines=engines)
        await dispatcher.start()
        return dispatcher
    fallback = settings.job_fallback_seconds
    dispatcher = Dispatcher(
        *args, concurrency=1, engines=engines, poll_interval=fallback, claim_grace=fallback
    )
    await dispatcher.start()
    await distributed.start_workers(dispatcher, queues, settings.workers)
    return dispatcher
