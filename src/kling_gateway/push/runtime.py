"""Push delivery for one gateway process: callbacks, event-stream reads, the PostgreSQL bridge."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..store.deliveries import DeliveryStore
from .callbacks import CALLBACK_STATUSES, CallbackDispatcher
from .config import PushConfig
from .pgbridge import PgBridge
from .stats import QueryCounter
from .views import SharedReads

if TYPE_CHECKING:
    from ..gateway import Gateway


class Push:
    """Built by :class:`~kling_gateway.gateway.Gateway`; started and stopped with it."""

    def __init__(self, gateway: Gateway):
        self.gateway = gateway
        self.config = PushConfig.from_settings(gateway.settings)
        self.queries = QueryCounter()
        self.deliveries = DeliveryStore(gateway.db, CALLBACK_STATUSES)
        self.reads = SharedReads(gateway.tasks)
        self.callbacks = CallbackDispatcher(
            self.deliveries,
            gateway.tasks,
            gateway.accounts,
            gateway.box,
            gateway.hub,
            gateway.signer,
            gateway.settings,
            self.config,
        )
        self.bridge = PgBridge(gateway.hub, gateway.db.url) if gateway.db.is_postgres else None

    async def start(self) -> None:
        self.queries.attach(self.gateway.db.read, self.gateway.db.write)
        if self.bridge is not None:
            await self.bridge.start()
        await self.callbacks.start()

    async def stop(self) -> None:
        await self.callbacks.stop()
        if self.bridge is not None:
            await self.bridge.stop()
        self.queries.detach()

    def stats(self) -> dict[str, Any]:
        longpoll = getattr(self.gateway.service, "longpoll", None)
        return {
            "store_queries": self.queries.count,
            "hub": self.gateway.hub.stats(),
            "longpoll": longpoll.stats() if longpoll is not None else None,
            "event_streams": self.reads.stats(),
            "callbacks": self.callbacks.stats(),
            "bridge": self.bridge.stats() if self.bridge is not None else None,
        }
