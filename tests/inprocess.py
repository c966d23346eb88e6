"""The real gateway app in this process: built by ``create_app`` on a tmp data dir, its lifespan run
(store migrated, workers and push started), and an httpx client speaking ASGI to it.

The fast layer of the suite (``tests/integration``) uses this instead of a child process: same
routes, middleware, services and databases, no port, no process start.
"""

from __future__ import annotations

import asyncio
import time
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


@dataclass
class App:
    """A running app with workers and API keys for a few accounts, and task helpers."""

    http: httpx.AsyncClient
    gateway: Gateway
    keys: list[str]

    def auth(self, account: int = 0) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[account]}"}

    async def create(self, path: str, body: dict[str, Any], account: int = 0) -> httpx.Response:
        return await self.http.post(path, json=body, headers=self.auth(account))

    async def wait(self, path: str, task_id: str, account: int = 0, timeout: float = 120.0) -> dict[str, Any]:
        """Poll until the task is terminal, with a deadline."""
        deadline = time.monotonic() + timeout
        while True:
            response = await self.http.get(f"{path}/{task_id}", headers=self.auth(account))
            assert response.status_code == 200, response.text
            data: dict[str, Any] = response.json()["data"]
            if data["task_status"] in ("succeed", "failed"):
                return data
            assert time.monotonic() < deadline, f"task {task_id} still {data['task_status']}"
            await asyncio.sleep(0.1)

    async def run(self, path: str, body: dict[str, Any], account: int = 0) -> dict[str, Any]:
        created = await self.create(path, body, account)
        assert created.status_code == 200, created.text
        done = await self.wait(path, created.json()["data"]["task_id"], account)
        assert done["task_status"] == "succeed", done
        return done

    async def fetch(self, url: str) -> bytes:
        response = await self.http.get(url)
        assert response.status_code == 200, response.text
        return response.content


@asynccontextmanager
async def in_process_app(data_dir: Path, accounts: int = 2, **settings: Any) -> AsyncIterator[App]:
    """:func:`running_gateway` with one worker (override with ``workers=``) and ``accounts`` keys."""
    async with running_gateway(data_dir, **{"workers": 1, **settings}) as running:
        keys = [(await running.create_account(f"t{i}")).api_key for i in range(accounts)]
        yield App(running.client, running.gateway, keys)


@asynccontextmanager
async def relay_front(
    data_dir: Path, base_url: str, api_key: str, families: tuple[str, ...] = ("*",)
) -> AsyncIterator[App]:
    """:func:`in_process_app` (one account) relaying ``families`` to the gateway at ``base_url``
    through one ``kling-compatible`` channel "up": no callbacks, brisk polling."""
    channel = {
        "families": list(families),
        "name": "up",
        "type": "kling-compatible",
        "base_url": base_url,
        "api_key": api_key,
        "callbacks": False,
        "poll": {"initial": 0.2, "factor": 0.2, "max_interval": 0.5},
    }
    async with in_process_app(
        data_dir, accounts=1, channels=[channel], fetch_allow_hosts=["127.0.0.1"]
    ) as app:
        yield app


# ---- per-test gateways with their own settings (the hardening tests) -------------------------


@dataclass
class InProcess:
    """A :class:`InProcessGateway` made for one test, with settings of its own."""

    running: InProcessGateway

    @property
    def gateway(self) -> Gateway:
        return self.running.gateway

    @property
    def http(self) -> httpx.AsyncClient:
        return self.running.client

    async def account(self, name: str = "t", **kwargs: Any) -> Account:
        return await self.running.create_account(name, **kwargs)

    async def task_count(self, account: Account, family: str = "videos/text2video") -> int:
        """Tasks of ``account`` in ``family`` in the store (a refused request must leave none)."""
        return len(await self.gateway.tasks.page(account.account_id, family, 1, 500))


@asynccontextmanager
async def in_process(tmp_path: Path, backend: str = "sqlite", **settings: Any) -> AsyncIterator[InProcess]:
    """:func:`running_gateway` on SQLite or on a throwaway PostgreSQL database (skipped when the
    server is absent, failed under CI=true)."""
    from support import PostgresDatabase, postgres_available, require_service

    database: PostgresDatabase | None = None
    if backend == "postgres":
        require_service(postgres_available(), "PostgreSQL is not reachable on 127.0.0.1:5432")
        database = PostgresDatabase()
    try:
        async with running_gateway(tmp_path, database.url if database else None, **settings) as running:
            yield InProcess(running)
    finally:
        if database is not None:
            database.drop()
