"""Shared fixtures: a real gateway server per backend (SQLite always; PostgreSQL + S3 when present)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from support import Account, GatewayProcess, PostgresDatabase, postgres_available, require_service


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The database URL a module's gateway runs on (None = embedded SQLite)."""
    if request.param == "sqlite":
        yield None
        return
    require_service(postgres_available(), "PostgreSQL is not reachable on 127.0.0.1:5432")
    database = PostgresDatabase()
    try:
        yield database.url
    finally:
        database.drop()


@pytest.fixture(scope="module")
def gateway(backend: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """The embedded defaults (SQLite + local results), or the scaled-out parts: PostgreSQL with
    results in S3 (moto's real S3 server on loopback), so the end-to-end suite covers both."""
    s3 = None
    env: dict[str, str] = {}
    if backend is not None:
        from scaleout_support import MotoS3

        s3 = MotoS3.start_or_skip()
        env = s3.gateway_env()
    try:
        with GatewayProcess(
            tmp_path_factory.mktemp("gw"), database_url=backend, extra_env=env, s3=s3
        ) as server:
            yield server
    finally:
        if s3 is not None:
            s3.stop()


@pytest.fixture(scope="module")
def account(gateway: GatewayProcess) -> Account:
    return gateway.create_account("primary")


@pytest.fixture(scope="module")
def other_account(gateway: GatewayProcess) -> Account:
    return gateway.create_account("other")


@pytest.fixture()
def http(gateway: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.base_url, timeout=30) as client:
        yield client
