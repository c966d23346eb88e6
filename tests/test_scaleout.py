"""Distributed jobs on procrastinate, in process against the real PostgreSQL: a job carries only a
task id, is deferred in the task row's own transaction, and runs the row through the ordinary
dispatcher; duplicated jobs do nothing, lost jobs are covered by the fallback loop, relay-style
reschedules are re-deferred with their delay, and queues keep render and relay work apart."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest

from kling_gateway.config import Settings
from kling_gateway.engines.base import EngineBase, EngineOutcome, EngineTask
from kling_gateway.engines.router import EngineRouter
from kling_gateway.errors import RescheduleTask
from kling_gateway.gateway import Gateway
from kling_gateway.ids import new_numeric_id, now_ms
from kling_gateway.jobs.distributed import engines_for, parse_queues, queue_for
from kling_gateway.present import UrlSigner
from kling_gateway.push.pgbridge import libpq_url
from kling_gateway.store import AccountRow, TaskRow
from scaleout_support import require_procrastinate
from support import PostgresDatabase, async_wait_until, new_task_row, postgres_available, require_service


class ScriptedEngine(EngineBase):
    """Counts runs per task; reschedules a task's first run when asked (like a relay poll)."""

    def __init__(self, name: str = "reference"):
        self.name = name
        self.runs: Counter[str] = Counter()
        self.run_times: dict[str, list[float]] = {}
        self.reschedule_first: set[str] = set()

    def serves(self, family: str, model_name: str | None) -> bool:
        return True

    async def run(self, task: EngineTask, ctx: object) -> EngineOutcome:
        self.runs[task.task_id] += 1
        self.run_times.setdefault(task.task_id, []).append(time.monotonic())
        if task.task_id in self.reschedule_first and self.runs[task.task_id] == 1:
            raise RescheduleTask(0.6)
        await asyncio.sleep(0.1)
        return EngineOutcome({"images": [{"index": 0, "url": f"https://example.invalid/{task.task_id}.png"}]})


@pytest.fixture()
def database() -> Iterator[PostgresDatabase]:
    require_service(postgres_available(), "PostgreSQL is not reachable on 127.0.0.1:5432")
    require_procrastinate()
    db = PostgresDatabase()
    try:
        yield db
    finally:
        db.drop()


def settings_for(database: PostgresDatabase, tmp_path, **extra: object) -> Settings:
    values: dict[str, object] = dict(
        data_dir=tmp_path,
        database_url=database.url,
        job_backend="procrastinate",
        workers=2,
        lease_seconds=3,
        reconcile_interval_seconds=0.5,
        job_fallback_seconds=30,
        url_secret="s",
    )
    values.update(extra)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture()
async def cluster(database: PostgresDatabase, tmp_path) -> AsyncIterator[tuple[Gateway, ScriptedEngine]]:
    engine = ScriptedEngine()
    gateway = Gateway(settings_for(database, tmp_path), router=EngineRouter([engine]))
    await gateway.start()
    await gateway.accounts.insert(
        AccountRow("acc_1", "t", "kg-x", "AK" + new_numeric_id(), "sealed", "sealed", None, now_ms(), None),
        new_numeric_id(),
    )
    yield gateway, engine
    await gateway.stop()


async def insert_task(gateway: Gateway, engine: str = "reference", *, runnable: bool = True) -> str:
    row = dataclasses.replace(new_task_row("acc_1", "images/generations", {"prompt": "p"}), engine=engine)
    await gateway.tasks.insert(row, runnable=runnable)
    return row.id


async def wait_terminal(gateway: Gateway, task_id: str, timeout: float = 20.0) -> TaskRow:
    deadline = time.monotonic() + timeout
    while True:
        row = await gateway.tasks.get(task_id)
        assert row is not None
        if row.status in ("succeed", "failed"):
            return row
        assert time.monotonic() < deadline, f"task {task_id} still {row.status}"
        await asyncio.sleep(0.05)


async def terminal_events(gateway: Gateway, task_id: str) -> list[str]:
    return [e[1] for e in await gateway.tasks.events(task_id) if e[1] in ("succeed", "failed")]


def jobs_of(database: PostgresDatabase, task_id: str) -> list[tuple[str, str]]:
    with psycopg.connect(libpq_url(database.url)) as conn:
        rows = conn.execute(
            "SELECT queue_name, status::text FROM procrastinate_jobs WHERE args->>'task_id' = %s", (task_id,)
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


@pytest.mark.postgres
async def test_task_runs_through_its_job_once_despite_duplicates(cluster) -> None:
    gateway, engine = cluster
    task_id = await insert_task(gateway)  # the job is deferred in the insert's transaction
    for _ in range(3):  # duplicated messages: harmless
        await gateway.distributed.task.configure(queue="render").defer_async(task_id=task_id)
    row = await wait_terminal(gateway, task_id)
    assert row.status == "succeed" and engine.runs[task_id] == 1
    assert await terminal_events(gateway, task_id) == ["succeed"]
    deadline = time.monotonic() + 10
    while gateway.distributed.skipped < 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert gateway.distributed.skipped >= 3 and engine.runs[task_id] == 1


@pytest.mark.postgres
async def test_enqueue_is_transactional(cluster, database) -> None:
    """A task whose insert rolls back leaves no job behind (the job rides the row's transaction)."""
    gateway, _ = cluster
    task_id = await insert_task(gateway)
    from kling_gateway.store import DuplicateExternalId

    row = await gateway.tasks.get(task_id)
    with pytest.raises(DuplicateExternalId):  # same primary key: the insert fails after deferring
        await gateway.tasks.insert(row)
    await wait_terminal(gateway, task_id)

    # successful jobs are deleted: once none is left, a job leaked by the failed insert has run
    # (and skipped the finished task) too
    await async_wait_until(lambda: jobs_of(database, task_id) == [], timeout=15, what="the jobs to finish")
    assert gateway.distributed.skipped == 0


@pytest.mark.postgres
async def test_a_held_task_defers_no_job(cluster, database) -> None:
    """A synchronous family's task is run by the request that made it (``runnable=False``): no
    job is deferred for it, so none is left behind when the call is withdrawn or finishes."""
    gateway, engine = cluster
    before = gateway.distributed.deferred
    task_id = await insert_task(gateway, runnable=False)
    assert jobs_of(database, task_id) == [] and gateway.distributed.deferred == before
    other = await insert_task(gateway)  # an ordinary task still gets its job
    assert gateway.distributed.deferred == before + 1
    await wait_terminal(gateway, other)
    assert engine.runs[task_id] == 0


@pytest.mark.postgres
async def test_lost_job_is_covered_by_the_fallback_loop(database, tmp_path) -> None:
    engine = ScriptedEngine()
    gateway = Gateway(
        settings_for(database, tmp_path, job_fallback_seconds=1.0), router=EngineRouter([engine])
    )
    await gateway.start()
    try:
        await gateway.accounts.insert(
            AccountRow("acc_1", "t", "kg-x", "AK1", "sealed", "sealed", None, now_ms(), None),
            new_numeric_id(),
        )
        hooks = list(gateway.tasks.runnable_hooks)
        gateway.tasks.runnable_hooks.clear()  # the job is "lost": none is ever deferred
        task_id = await insert_task(gateway)
        gateway.tasks.runnable_hooks.extend(hooks)
        assert jobs_of(database, task_id) == []
        row = await wait_terminal(gateway, task_id, timeout=15)
        assert row.status == "succeed" and engine.runs[task_id] == 1
    finally:
        await gateway.stop()


@pytest.mark.postgres
async def test_reschedule_defers_a_new_job_after_the_delay(cluster) -> None:
    gateway, engine = cluster
    task_id = new_numeric_id()
    engine.reschedule_first.add(task_id)
    await gateway.tasks.insert(
        dataclasses.replace(new_task_row("acc_1", "images/generations", {}), id=task_id)
    )
    row = await wait_terminal(gateway, task_id)
    assert row.status == "succeed" and engine.runs[task_id] == 2
    first, second = engine.run_times[task_id]
    assert second - first >= 0.5  # scheduled with the engine's delay, not run at once
    assert row.attempts == 1  # a reschedule is not an attempt


@pytest.mark.postgres
async def test_render_worker_never_takes_relay_tasks(database, tmp_path) -> None:
    render, relay = ScriptedEngine("reference"), ScriptedEngine("chan-a")
    gateway = Gateway(
        settings_for(database, tmp_path, job_fallback_seconds=0.5),
        router=EngineRouter([render, relay]),
        queues=["render"],
    )
    await gateway.start()
    try:
        await gateway.accounts.insert(
            AccountRow("acc_1", "t", "kg-x", "AK1", "sealed", "sealed", None, now_ms(), None),
            new_numeric_id(),
        )
        relayed = await insert_task(gateway, engine="chan-a")
        rendered = await insert_task(gateway, engine="reference")
        assert (await wait_terminal(gateway, rendered)).status == "succeed"
        # a render task whose job is lost runs only through the fallback loop: once it is done, that
        # loop has run with the relay row runnable all along
        hooks = list(gateway.tasks.runnable_hooks)
        gateway.tasks.runnable_hooks.clear()
        lost = await insert_task(gateway, engine="reference")
        gateway.tasks.runnable_hooks.extend(hooks)
        assert jobs_of(database, lost) == []
        assert (await wait_terminal(gateway, lost, timeout=15)).status == "succeed"
        assert (await gateway.tasks.get(relayed)).status == "submitted" and relay.runs[relayed] == 0
        assert jobs_of(database, relayed) == [("relay", "todo")]
    finally:
        await gateway.stop()


@pytest.mark.postgres
async def test_concurrent_claim_one_has_a_single_winner(cluster) -> None:
    gateway, _ = cluster
    hooks = list(gateway.tasks.runnable_hooks)
    gateway.tasks.runnable_hooks.clear()  # no job: only the claims below compete
    task_id = await insert_task(gateway)
    gateway.tasks.runnable_hooks.extend(hooks)
    now = now_ms()
    won = await asyncio.gather(*[gateway.tasks.claim_one(task_id, f"o{i}", now, 60_000) for i in range(8)])
    assert sum(r is not None for r in won) == 1


def test_queue_routing() -> None:
    assert queue_for("reference") == "render" and queue_for(None) == "render"
    assert queue_for("kling-main") == "relay"
    assert parse_queues("relay, render") == ["relay", "render"] and parse_queues(None) == ["render", "relay"]
    with pytest.raises(ValueError):
        parse_queues("render,gpu")
    assert engines_for(["render", "relay"], ["a", "reference"]) is None
    assert engines_for(["relay"], ["a", "reference", "b"]) == ["a", "b"]
    assert engines_for(["render"], ["a", "reference"]) == ["reference"]


async def test_url_signer_presigns_prepared_keys_and_falls_back_otherwise() -> None:
    class Presigner:
        calls = 0

        async def presigned_url(self, key: str, ttl: int) -> str:
            Presigner.calls += 1
            return f"https://s3.example/{key}?ttl={ttl}"

    signer = UrlSigner("secret", 3600, presign=Presigner())
    result = {"videos": [{"url": "storage:1/a1/v.mp4", "cover": "https://elsewhere/c.png"}]}
    assert signer.url("storage:1/a1/v.mp4", "http://gw").startswith("http://gw/files/1/a1/v.mp4?")
    await signer.prepare([result])
    await signer.prepare([result])
    assert Presigner.calls == 1  # reused while fresh
    resolved = signer.resolve(result, "http://gw")
    assert resolved["videos"][0]["url"] == "https://s3.example/1/a1/v.mp4?ttl=4500"
    assert resolved["videos"][0]["cover"] == "https://elsewhere/c.png"
    plain = UrlSigner("secret", 3600)
    await plain.prepare([result])
    assert plain.url("storage:1/a1/v.mp4", "http://gw").startswith("http://gw/files/")
