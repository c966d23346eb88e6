"""Push delivery for one gateway process: callbacks, event-stream reads, the PostgreSQL bridge."""

from __future__ import annotations

from typing import Any

from ..config import Settings
from ..present import UrlSigner
from ..secrets_box import SecretBox
from ..store import AccountStore, Database, TaskStore
from ..store.deliveries import DeliveryStore
from .callbacks import CALLBACK_STATUSES, CallbackDispatcher
from .config import PushConfig
from .hub import ChangeHub
from .longpoll import LongPoller
from .pgbridge import PgBridge
from .stats import QueryCounter
from .views import SharedReads


class Push:
    """Built by the composition root (:mod:`kling_gateway.gateway`); started and stopped with it."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        tasks: TaskStore,
        accounts: AccountStore,
        box: SecretBox,
        hub: ChangeHub,
        signer: UrlSigner,
        longpoll: LongPoller,
    ):
        self.db = db
        self.hub = hub
        self.longpoll = longpoll
        self.config = PushConfig.from_settings(settings)
        self.queries = QueryCounter()
        self.deliveries = DeliveryStore(db, CALLBACK_STATUSES)
        self.reads = SharedReads(tasks)
        self.callbacks = CallbackDispatcher(
            self.deliveries, tasks, accounts, box, hub, signer, settings, self.config
        )
        self.bridge = PgBridge(hub, db.url) if db.is_postgres else None

    async def start(self) -> None:
        self.queries.attach(self.db.read, self.db.write)
        if self.bridge is not None:
            await self.bridge.start()
        await self.callbacks.start()

    async def stop(self) -> None:
        await self.callbacks.stop()
        if self.bridge is not None:
            await self.bridge.stop()
        self.queries.detach()

    def stats(self) -> dict[str, Any]:
        return {
            "store_queries": self.queries.count,
            "hub": self.hub.stats(),
            "longpoll": self.longpoll.stats(),
            "event_streams": self.reads.stats(),
            "callbacks": self.callbacks.stats(),
            "bridge": self.bridge.stats() if self.bridge is not None else None,
        }
