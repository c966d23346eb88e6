"""Shared fixtures: a real gateway server per backend (SQLite always; PostgreSQL + S3 when present),
and the suite's layers as markers (see ``pytest_collection_modifyitems``)."""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

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


# ---- layers ---------------------------------------------------------------------------------

TESTS = Path(__file__).parent
FAST_LAYERS = (TESTS / "unit", TESTS / "integration")
# Names a test module holds when it starts the gateway (or its CLI, or a worker) as a child process.
CHILD_PROCESS_HARNESS = ("GatewayProcess", "WorkerProcess", "subprocess")


def _uses_subprocess_gateway(item: pytest.Item) -> bool:
    """Whether the ``gateway`` fixture this item gets is the child-process one defined above
    (a module may define its own in-process ``gateway``, as test_routes.py does)."""
    definitions = getattr(item, "_fixtureinfo", None)
    defs = definitions.name2fixturedefs.get("gateway", ()) if definitions is not None else ()
    return bool(defs) and Path(inspect.getfile(defs[-1].func)).resolve() == Path(__file__).resolve()


def _starts_child_processes(module: ModuleType | None) -> bool:
    return module is not None and any(name in vars(module) for name in CHILD_PROCESS_HARNESS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``e2e`` what runs a real server process, ``postgres`` what runs on the PostgreSQL
    backend, so ``-m "not e2e"`` is the fast layer and ``-m "not postgres"`` the SQLite-only run.
    The fast layers (tests/unit, tests/integration) must not start the server: that is an error."""
    for item in items:
        e2e = _uses_subprocess_gateway(item) or _starts_child_processes(getattr(item, "module", None))
        if e2e:
            if any(item.path.is_relative_to(layer) for layer in FAST_LAYERS):
                raise pytest.UsageError(
                    f"{item.nodeid} starts a gateway process; the fast layer runs the app in-process "
                    "(tests/inprocess.py)"
                )
            item.add_marker(pytest.mark.e2e)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("backend") == "postgres":
            item.add_marker(pytest.mark.postgres)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        _long_files_first(items)


def _long_files_first(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``make test``: ``--dist loadfile --no-loadscope-reorder``) files are handed
    out in collection order, so the files holding ``slow`` tests go first, then the other e2e files,
    and the in-process files last: they fill the workers' tails. Each file keeps its own order."""
    ranks: dict[Path, int] = {}
    for item in items:
        rank = 0 if item.get_closest_marker("slow") else 1 if item.get_closest_marker("e2e") else 2
        ranks[item.path] = min(rank, ranks.get(item.path, 2))
    items.sort(key=lambda i: ranks[i.path])  # stable: files stay in order within a rank
