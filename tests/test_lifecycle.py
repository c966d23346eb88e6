"""Task life cycle on the store itself (SQLite and PostgreSQL): leases, CAS, reconciler, sweeper."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator

import pytest

from kling_gateway.config import Settings
from kling_gateway.engines.base import EngineBase, EngineOutcome, EngineTask, storage_ref
from kling_gateway.engines.router import EngineRouter
from kling_gateway.errors import TaskFailure
from kling_gateway.ids import new_numeric_id, now_ms
from kling_gateway.jobs import Dispatcher, Maintenance
from kling_gateway.push import ChangeHub
from kling_gateway.storage.local import LocalStorage
from kling_gateway.store import AccountRow, AccountStore, Database, TaskRow, TaskStore
from support import new_task_row, png_bytes


@pytest.fixture()
async def store(backend: str | None, tmp_path) -> AsyncIterator[TaskStore]:
    db = Database(backend or f"sqlite+aiosqlite:///{tmp_path}/life.sqlite3")
    await db.migrate()
    account_id = "acc_" + new_numeric_id()
    await AccountStore(db).insert(
        AccountRow(
            account_id, "t", "kg-x", "AK" + new_numeric_id(), "sealed", "sealed", None, now_ms(), None
        ),
        new_numeric_id(),
    )
    task_store = TaskStore(db)
    task_store.test_account = account_id  # type: ignore[attr-defined]
    yield task_store
    await db.dispose()


async def new_task(store: TaskStore, *, created_at: int | None = None, engine: str = "test") -> TaskRow:
    now = created_at or now_ms()
    fresh = new_task_row(store.test_account, "images/generations", {"prompt": "p"})
    row = dataclasses.replace(fresh, engine=engine, available_at=now, created_at=now, updated_at=now)
    await store.insert(row)
    return row


async def test_concurrent_transitions_only_one_wins(store):
    row = await new_task(store)
    outcomes = await asyncio.gather(
        *[
            store.transition(
                row.id, from_statuses=("submitted",), to_status=status, now=now_ms(), status_msg=status
            )
            for status in ("succeed", "failed", "processing", "succeed", "failed")
        ]
    )
    assert sum(outcomes) == 1
    final = await store.get(row.id)
    events = await store.events(row.id)
    assert [e[1] for e in events] == ["submitted", final.status]


async def test_lease_expiry_hands_task_to_another_worker_and_fences_the_first(store):
    engine = "e" + new_numeric_id()  # claims below see only this test's tasks
    row = await new_task(store, engine=engine)
    start = now_ms()  # the store takes the clock as an argument: no real time has to pass
    first = await store.claim("worker-a", start, lease_ms=50, engines=[engine])
    assert first is not None and first.id == row.id and first.attempts == 1
    assert await store.claim("worker-b", start + 40, lease_ms=50, engines=[engine]) is None  # leased
    later = start + 120  # worker-b's clock once worker-a's 50 ms lease has run out
    second = await store.claim("worker-b", later, lease_ms=60_000, engines=[engine])
    assert second is not None and second.id == row.id and second.attempts == 2
    # the first worker wakes up late: its CAS is refused
    assert not await store.transition(
        row.id, from_statuses=("submitted", "processing"), to_status="succeed", now=now_ms(), owner="worker-a"
    )
    assert await store.transition(
        row.id, from_statuses=("submitted", "processing"), to_status="succeed", now=now_ms(), owner="worker-b"
    )


async def test_claims_never_hand_one_task_to_two_workers(store):
    engine = "e" + new_numeric_id()
    rows = [await new_task(store, engine=engine) for _ in range(12)]
    claimed = await asyncio.gather(*[store.claim(f"w{i}", now_ms(), 60_000, [engine]) for i in range(20)])
    ids = [c.id for c in claimed if c is not None]
    assert len(ids) == len(set(ids)) == len(rows)


class PngEngine(EngineBase):
    """A minimal real engine: draws one PNG. Fails for prompts starting with 'fail'."""

    name = "test"

    def serves(self, family: str, model_name: str | None) -> bool:
        return True

    async def run(self, task: EngineTask, ctx) -> EngineOutcome:
        await ctx.mark_processing()
        if task.request["prompt"].startswith("fail"):
            raise TaskFailure("prompt: asked to fail")
        ref = await ctx.put_result(f"{task.task_id}/image-0.png", png_bytes(320, 320), "image/png")
        return EngineOutcome(task_result={"images": [{"index": 0, "url": ref}]})


async def test_dispatcher_runs_tasks_and_records_failures(store, tmp_path):
    settings = Settings(data_dir=tmp_path, workers=2, poll_interval_seconds=0.05)
    storage = LocalStorage(tmp_path / "results")
    dispatcher = Dispatcher(store, EngineRouter([PngEngine()]), storage, ChangeHub(), settings)
    ok = await new_task(store)
    bad = await new_task(store)
    async with store.db.write.begin() as conn:
        from sqlalchemy import update

        from kling_gateway.store.tables import tasks

        await conn.execute(
            update(tasks).where(tasks.c.id == bad.id).values(request=json.dumps({"prompt": "fail"}))
        )
    await dispatcher.start()
    try:
        for _ in range(100):
            a, b = await store.get(ok.id), await store.get(bad.id)
            if a.status in ("succeed", "failed") and b.status in ("succeed", "failed"):
                break
            await asyncio.sleep(0.05)
    finally:
        await dispatcher.stop()
    assert a.status == "succeed"
    url = json.loads(a.result)["images"][0]["url"]
    assert url.startswith("storage:") and (await storage.stat(url[len("storage:") :])).size > 100
    assert b.status == "failed" and b.status_msg == "prompt: asked to fail"
    assert [e[1] for e in await store.events(ok.id)] == ["submitted", "processing", "succeed"]


async def test_sweeper_fails_overdue_tasks_with_a_clear_message(store, tmp_path):
    settings = Settings(data_dir=tmp_path, task_timeout_seconds=60)
    old = await new_task(store, created_at=now_ms() - 120_000)
    fresh = await new_task(store)
    hub = ChangeHub()
    seen = []
    hub.add_listener(lambda change: seen.append(change.status))
    await Maintenance(store, LocalStorage(tmp_path / "r"), hub, settings).sweep()
    assert "failed" in seen
    swept = await store.get(old.id)
    assert swept.status == "failed" and "timed out" in swept.status_msg and "60 s" in swept.status_msg
    assert (await store.get(fresh.id)).status == "submitted"


async def test_reconciler_frees_expired_leases_and_gives_up_after_max_attempts(store, tmp_path):
    settings = Settings(data_dir=tmp_path, max_attempts=2)
    engine = "e" + new_numeric_id()
    past = now_ms() - 60_000  # leases taken a minute ago, long expired when the reconciler runs
    row = await new_task(store, engine=engine, created_at=past)
    maintenance = Maintenance(store, LocalStorage(tmp_path / "r"), ChangeHub(), settings)
    assert await store.claim("lost-1", past, lease_ms=10, engines=[engine]) is not None
    assert await maintenance.reconcile() >= 1
    assert (await store.get(row.id)).lease_owner is None
    assert await store.claim("lost-2", past + 1_000, lease_ms=10, engines=[engine]) is not None
    await maintenance.reconcile()
    gave_up = await store.get(row.id)
    assert gave_up.status == "failed" and "lost 2 times" in gave_up.status_msg


async def test_retention_removes_files_but_keeps_the_task(store, tmp_path):
    settings = Settings(data_dir=tmp_path, retention_days=0.0000001)
    storage = LocalStorage(tmp_path / "r")
    row = await new_task(store)
    await storage.put_bytes(f"{row.id}/a1/image-0.png", png_bytes(300, 300), "image/png")
    await store.transition(
        row.id,
        from_statuses=("submitted",),
        to_status="succeed",
        now=now_ms() - 10_000,
        result={"images": [{"index": 0, "url": storage_ref(f"{row.id}/a1/image-0.png")}]},
    )
    await Maintenance(store, storage, ChangeHub(), settings).sweep()
    kept = await store.get(row.id)
    assert kept.status == "succeed" and kept.files_expired_at is not None and kept.result
    assert await storage.stat(f"{row.id}/a1/image-0.png") is None


async def test_group_commit_isolates_a_duplicate_external_id(store):
    """Concurrent inserts share a transaction; one repeated external id fails alone."""
    from dataclasses import replace

    from kling_gateway.store import DuplicateExternalId

    base = await new_task(store)
    external = "dup-" + new_numeric_id()
    rows = [replace(base, id=new_numeric_id(), external_task_id=f"{external}-{i}") for i in range(20)]
    rows.append(replace(base, id=new_numeric_id(), external_task_id=f"{external}-3"))  # repeats rows[3]
    outcomes = await asyncio.gather(*[store.insert(row) for row in rows], return_exceptions=True)
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(failures) == 1 and isinstance(failures[0], DuplicateExternalId)
    assert isinstance(outcomes[-1], DuplicateExternalId) or isinstance(outcomes[3], DuplicateExternalId)
    stored = [await store.get(row.id) for row in rows]
    assert sum(r is not None for r in stored) == 20
    for row in rows:
        found = await store.get(row.id)
        if found is not None:
            assert [e[1] for e in await store.events(row.id)] == ["submitted"]
