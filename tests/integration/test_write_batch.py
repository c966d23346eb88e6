"""A create batch's write transaction (``Database.writing``), on SQLite and PostgreSQL: concurrent
creates share one transaction, a repeated external id fails that create alone, and a failing
transaction leaves nothing behind. On SQLite the batch's statements run on aiosqlite's connection
itself (``store/database.py``), so these check what SQLAlchemy would otherwise guarantee."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from inprocess import InProcessGateway
from kling_gateway.schemas.tasks import ACTIVE_STATUSES
from kling_gateway.store.database import Statement, insert_of
from kling_gateway.store.tables import tasks
from support import new_task_row

pytestmark = pytest.mark.asyncio(loop_scope="module")

T2V = "/kling/v1/videos/text2video"
INSERT_TASK = Statement(insert_of(tasks))


async def test_concurrent_creates_share_a_batch_and_a_repeated_external_id_fails_alone(
    app_gateway: InProcessGateway,
) -> None:
    client = app_gateway.client
    account = await app_gateway.create_account("batch")
    bodies: list[dict[str, Any]] = [
        {"prompt": f"shot {n}", "external_task_id": "same-id" if n in (3, 11) else f"ext-{n}"}
        for n in range(20)
    ]
    answers = await asyncio.gather(*(client.post(T2V, json=b, headers=account.bearer) for b in bodies))

    refused = [a.json() for a in answers if a.status_code != 200]
    assert len(refused) == 1, [a.text for a in answers]
    assert refused[0]["code"] == 1201 and "'same-id' already exists" in refused[0]["message"], refused
    created = [a.json()["data"]["task_id"] for a in answers if a.status_code == 200]
    assert len(set(created)) == 19
    store, ledger = app_gateway.gateway.tasks, app_gateway.gateway.ledger
    for task_id in created:  # each with its row, its first event and its ledger entry
        row = await store.get(task_id)
        assert row is not None and row.status == "submitted" and row.account_id == account.account_id
        assert [status for _, status, _ in await store.events(task_id)] == ["submitted"]
        entry = await ledger.entry(task_id)
        assert entry is not None and entry.status == "charged" and entry.units_milli > 0
    listed = await client.get(T2V, params={"pageSize": 50}, headers=account.bearer)
    assert sorted(t["task_id"] for t in listed.json()["data"]) == sorted(created)


async def test_a_failing_transaction_writes_nothing_and_raises_sqlalchemys_error(
    app_gateway: InProcessGateway,
) -> None:
    account = await app_gateway.create_account("rollback")
    db = app_gateway.gateway.db
    first = dataclasses.replace(new_task_row(account.account_id, "videos/text2video", {}), id="wb-first")
    others = [dataclasses.replace(first, id="wb-second"), first]  # the last repeats the primary key
    by_account = Statement(select(tasks.c.id).where(tasks.c.account_id == account.account_id))
    with pytest.raises(IntegrityError):
        async with db.writing() as tx:
            await tx.execute(INSERT_TASK, [first.__dict__])
            seen = await tx.rows(by_account, {})
            assert [r[0] for r in seen] == ["wb-first"]  # the transaction sees its own write
            await tx.execute(INSERT_TASK, [r.__dict__ for r in others])
    assert await app_gateway.gateway.tasks.get("wb-first") is None
    assert await app_gateway.gateway.tasks.get("wb-second") is None

    async with db.writing() as tx:  # the connection is usable again, and a commit keeps the row
        await tx.execute(INSERT_TASK, [first.__dict__])
    assert (await app_gateway.gateway.tasks.get("wb-first")) == first


async def test_a_statement_that_needs_sqlalchemys_conversion_is_refused() -> None:
    with pytest.raises(TypeError, match="status_1"):
        Statement(select(tasks.c.id).where(tasks.c.status.in_(ACTIVE_STATUSES)))
