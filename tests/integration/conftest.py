"""The fast layer: the real app in-process (httpx over ASGI), on SQLite and on PostgreSQL.

Modules here share one app per module and backend, so their tests run on the module's event
loop: each module sets ``pytestmark = pytest.mark.asyncio(loop_scope="module")``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from inprocess import InProcessGateway, running_gateway
from support import Account


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app_gateway(
    backend: str | None, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[InProcessGateway]:
    """The gateway app on the module's backend (``backend`` in tests/conftest.py), API only."""
    async with running_gateway(tmp_path_factory.mktemp("inproc"), backend) as running:
        yield running


@pytest.fixture(scope="module")
def client(app_gateway: InProcessGateway) -> httpx.AsyncClient:
    return app_gateway.client


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def account(app_gateway: InProcessGateway) -> Account:
    return await app_gateway.create_account("primary")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def other_account(app_gateway: InProcessGateway) -> Account:
    return await app_gateway.create_account("other")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def worker_gateway(
    backend: str | None, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[InProcessGateway]:
    """The gateway app with its task workers (and one render process) running in this process;
    on PostgreSQL with results in S3 (moto's server, in a thread on loopback), as the e2e suite's
    scaled-out leg."""
    storage: dict[str, str] = {}
    s3 = None
    if backend is not None:
        from scaleout_support import MotoS3

        s3 = MotoS3.start_or_skip()
        storage = {k.removeprefix("KLING_GATEWAY_").lower(): v for k, v in s3.gateway_env().items()}
    try:
        async with running_gateway(
            tmp_path_factory.mktemp("inproc-workers"), backend, workers=1, **storage
        ) as running:
            running.s3 = s3
            yield running
    finally:
        if s3 is not None:
            s3.stop()
