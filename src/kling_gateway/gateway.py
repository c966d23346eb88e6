"""The composition root: builds every part of one gateway process once and hands each exactly
what it uses through its constructor (store, storage, hub, settings, signer...). Nothing in the
package imports this module except the entry points (``cli``, ``api.app``); see
``docs/architecture.md``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from .accounting.pricing import Pricing
from .accounting.service import AccountingService
from .auth import Authenticator
from .catalog import build_catalog
from .config import Settings
from .engines.base import Engine, EngineServices
from .engines.relay.callbacks import CallbackReceiver, Inbox
from .engines.relay.channels import webhook_secrets
from .engines.router import EngineRouter
from .fsmodes import private_dir
from .health import PROBE_KEY
from .heap import freeze_startup_heap
from .idempotency import IdempotentCreates
from .jobs import Dispatcher, Maintenance
from .jobs.distributed import DistributedJobs, parse_queues
from .jobs.worker import start_workers
from .present import UrlSigner
from .push import ChangeHub
from .push.longpoll import LongPoller
from .push.runtime import Push
from .ratelimit import RateLimiter
from .secrets_box import SecretBox, load_master_key
from .service import TaskService
from .sessions import SelectionService
from .standard2.service import Standard2Service
from .storage.factory import create_storage
from .store import AccountStore, Database, LedgerStore, TaskRow, TaskStore
from .store import ledger as ledger_rules
from .store.idempotency import IdempotencyStore
from .store.lookup import TaskLookup

log = logging.getLogger("kling_gateway")


def default_engines(settings: Settings, inbox: Inbox | None = None) -> list[Engine]:
    """Relay channels first (in their configured priority), the reference engine last."""
    from .engines.reference import ReferenceEngine

    engines: list[Engine] = []
    if settings.channels:
        from .engines.relay import build_channels

        engines.extend(build_channels(settings, inbox))
    engines.append(ReferenceEngine(settings))
    return engines


class Gateway:
    """One gateway process: its parts, built once, started and stopped together."""

    def __init__(
        self,
        settings: Settings,
        *,
        router: EngineRouter | None = None,
        run_workers: bool = True,
        queues: Sequence[str] | None = None,
    ):
        """``queues`` (``render``, ``relay``): which tasks this process's workers take (default all).

        ``router``: the engines to use instead of :func:`default_engines` (relay channels built for
        it should be given :attr:`relay_inbox`, ``build_channels(settings, gateway.relay_inbox)``,
        so that upstream callbacks reach them)."""
        self.settings = settings
        self.catalog = build_catalog(settings.models)  # packaged models + the operator's [[models]]
        private_dir(settings.data_dir)  # 0700: store, secrets and results are not for other users
        self.db = Database(
            settings.resolved_database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
        self.accounts = AccountStore(self.db)
        self.tasks = TaskStore(self.db)
        self.pricing = Pricing(self.catalog)
        # limits, packs and the charge, in the insert transaction (atomic admission)
        self.tasks.batch_admission.append(ledger_rules.Admission(self.pricing.price_of))
        self.tasks.terminal_hooks.append(  # settle (re-priced) or refund with the status
            ledger_rules.Settlement(self.pricing.final_price, self.pricing.estimated_families)
        )
        self.tasks.withdraw_hooks.append(ledger_rules.withdraw)  # a refused synchronous call: no entry
        self.ledger = LedgerStore(self.db)
        self.box = SecretBox(load_master_key(settings.data_dir))
        self.auth = Authenticator(
            self.accounts, self.box, max_token_lifetime=settings.max_token_lifetime_seconds
        )
        self.accounting = AccountingService(self.accounts, self.ledger, self.box)
        self.storage = create_storage(settings)
        self.hub = ChangeHub()
        self.limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
        self.signer = UrlSigner(
            settings.secret(),
            settings.url_ttl_seconds,
            presign=self.storage if settings.storage_presign else None,
        )
        self.queues = parse_queues(queues)
        self.distributed: DistributedJobs | None = None
        if settings.job_backend == "procrastinate":  # jobs enqueued in the row's own transaction
            self.distributed = DistributedJobs(settings, self.db, self.tasks)
            self.tasks.runnable_hooks.append(self.distributed.enqueue)
        self._router = router
        self.run_workers = run_workers and settings.workers > 0
        self.router: EngineRouter = router or EngineRouter()
        self.dispatcher: Dispatcher | None = None
        self.maintenance: Maintenance | None = None
        self.longpoll = LongPoller(self.hub, self.tasks)
        self.service = TaskService(
            self.tasks,
            self.router,
            self.hub,
            settings,
            self.longpoll,
            on_created=self._on_created,
            pricing=self.pricing.price_of,
            storage=self.storage,
            catalog=self.catalog,
        )
        self.standard2 = Standard2Service(self.service, TaskLookup(self.db), self.catalog)
        self.idempotency = IdempotencyStore(self.db)
        self.creates = IdempotentCreates(
            self.idempotency, self.service, self.tasks, settings.idempotency_ttl_seconds
        )
        self.selection = SelectionService(self.tasks, self.storage, settings)
        self.relay_inbox = Inbox()  # upstream callbacks, read by the relay channel engines
        self.relay_callbacks = CallbackReceiver(
            settings.secret(), self.tasks, self.relay_inbox, self._wake_workers, webhook_secrets(settings)
        )
        # callbacks, event streams, cross-process notifications
        self.push = Push(
            settings, self.db, self.tasks, self.accounts, self.box, self.hub, self.signer, self.longpoll
        )
        self.started = False

    async def _engine_admission(self, conn: AsyncConnection, row: TaskRow) -> None:
        """The task's engine's own admission rule, in the insert transaction."""
        engine = self.router.get(row.engine)
        if engine is not None:
            await engine.admit(row.family, row.request_body, conn)

    def _on_created(self, _row: object) -> None:
        self._wake_workers()

    def _wake_workers(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake()

    async def start(self) -> None:
        await self.db.migrate()
        local_probe = self.storage.local_path(PROBE_KEY)
        if local_probe is not None:  # a local results root exists from the start (/healthz checks it)
            private_dir(local_probe.parent.parent)
        if self.distributed is not None:
            await self.distributed.prepare()
        if self._router is None:
            for engine in default_engines(self.settings, self.relay_inbox):
                self.router.add(engine)
        hook = self._engine_admission
        if hook not in self.tasks.admission_hooks and any(e.admits for e in self.router.engines):
            # e.g. a relay queue bound; per task, so only when an engine has a rule of its own
            self.tasks.admission_hooks.append(hook)
        services = EngineServices(store=self.tasks, hub=self.hub, wake_workers=self._wake_workers)
        for engine in self.router.engines:
            engine.bind(services)
        if self.run_workers:
            self.dispatcher = await start_workers(
                self.tasks,
                self.router,
                self.storage,
                self.hub,
                self.settings,
                queues=self.queues,
                distributed=self.distributed,
            )
        self.maintenance = Maintenance(
            self.tasks,
            self.storage,
            self.hub,
            self.settings,
            wake_workers=self.dispatcher.wake if self.dispatcher else None,
            idempotency=self.idempotency,
        )
        await self.maintenance.start()
        await self.push.start()
        self.started = True

    async def stop(self) -> None:
        if self.started:
            await self.push.stop()
        if self.maintenance is not None:
            await self.maintenance.stop()
        if self.distributed is not None:
            await self.distributed.stop_workers()
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        await self.router.close()
        await self.db.dispose()
        self.started = False


async def run_worker_process(settings: Settings, queues: Sequence[str]) -> None:
    """``kling-gateway worker``: workers, reconciler and sweeper, no HTTP. Runs until SIGTERM or
    SIGINT, then stops gracefully (running jobs get a few seconds; a task cut short keeps its
    lease until it expires and is then retried)."""
    gateway = Gateway(settings, queues=queues)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await gateway.start()
    freeze_startup_heap()  # started: what exists now lives as long as the process (heap.py)
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
