"""The real gateway app in this process: built by ``create_app`` on a tmp data dir, its lifespan run
(store migrated, workers and push started), and an httpx client speaking ASGI to it.

The fast layer of the suite (``tests/integration``) uses this instead of a child process: same
routes, middleware, services and databases, no port, no process start.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from kling_gateway.api import create_app
from kling_gateway.config import Settings
from kling_gateway.gateway import Gateway
from kling_gateway.keys import create_account
from support import Account

# Generous: PostgreSQL migrations on a loaded 2-core machine can take a while.
LIFESPAN_TIMEOUT_S = 60.0


@dataclass
class InProcessGateway:
    """One running app: the ASGI app, its composition root, and a client bound to it."""

    app: FastAPI
    gateway: Gateway
    client: httpx.AsyncClient
    s3: Any = None  # the MotoS3 server holding this app's results, when it stores in S3

    def stored_files(self, task_id: str) -> list[Any]:
        """Result objects stored for a task, in the local results dir or the S3 bucket."""
        if self.s3 is not None:
            return list(self.s3.keys(prefix=f"gw/{task_id}/"))
        root = self.settings.results_dir / task_id
        return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []

    @property
    def settings(self) -> Settings:
        return self.gateway.settings

    async def create_account(self, name: str = "test", *, max_concurrent_tasks: int | None = None) -> Account:
        """What ``kling-gateway keys create`` does, on this app's own store."""
        issued = await create_account(
            self.gateway.accounts, self.gateway.box, name, max_concurrent_tasks=max_concurrent_tasks
        )
        return Account(
            issued.account_id, issued.api_key, issued.access_key, issued.secret_key, issued.webhook_secret
        )


@asynccontextmanager
async def running_gateway(
    data_dir: Path, database_url: str | None = None, **settings: Any
) -> AsyncIterator[InProcessGateway]:
    """Build and start the app; ``settings`` override the defaults (``workers=0``: API only, so a
    task created by a test stays where it was put unless the test asks for workers)."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "workers": 0,
        "engine_processes": 1,
        "fetch_allow_hosts": ["127.0.0.1", "localhost"],
        **settings,
    }
    app = create_app(Settings(**values))
    gateway: Gateway = app.state.gateway
    # LifespanManager sends the ASGI lifespan events through the whole middleware stack, as a
    # server does (httpx's ASGITransport alone never runs the lifespan).
    async with LifespanManager(app, startup_timeout=LIFESPAN_TIMEOUT_S, shutdown_timeout=LIFESPAN_TIMEOUT_S):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=gateway.settings.base_url(), timeout=30
        ) as client:
            yield InProcessGateway(app, gateway, client)
