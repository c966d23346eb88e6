"""200 concurrent creates through the real app (HTTP over ASGI, in process) on SQLite and
PostgreSQL never overdraw a pack, an account's concurrency limit or a pack's per-model-version
concurrency: exactly as many tasks as the limit allows are stored, each refusal is the Kling
429 envelope with the limit's code, and the pack ends at exactly what the admitted tasks left."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from inprocess import InProcess, in_process
from kling_gateway.store.tables import ledger

T2V = "/v1/videos/text2video"
TURBO_5S = {"prompt": "a fox", "model_name": "kling-v2-5-turbo", "duration": "5"}  # 0.3 × 5 = 1.5 units
CREATES = 200


async def create_all(gw: InProcess, headers: dict[str, str]) -> Counter[tuple[int, int]]:
    """Fire the creates at once; (HTTP status, Kling code) of each answer."""
    answers = await asyncio.gather(
        *(gw.http.post(T2V, json={**TURBO_5S, "prompt": f"fox {i}"}, headers=headers) for i in range(CREATES))
    )
    for answer in answers:
        body = answer.json()
        assert set(body) >= {"code", "message", "request_id"}, body
    return Counter((a.status_code, a.json()["code"]) for a in answers)


async def entries(gw: InProcess, account_id: str) -> int:
    async with gw.gateway.db.read.connect() as conn:
        query = select(func.count()).select_from(ledger).where(ledger.c.account_id == account_id)
        return int((await conn.execute(query)).scalar_one())


@pytest.fixture(params=["sqlite", "postgres"])
def backend_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize(
    ("limit", "admitted", "code"),
    [
        ({"pack_units": "75"}, 50, 1102),  # 75 / 1.5: exactly 50 tasks' worth
        ({"max_concurrent_tasks": 7}, 7, 1303),
        ({"pack_concurrency": 5}, 5, 1303),  # slots per model version while the pack is online
    ],
    ids=["pack-units", "account-concurrency", "pack-concurrency"],
)
async def test_concurrent_creates_never_overdraw(
    tmp_path: Path, backend_name: str, limit: dict[str, Any], admitted: int, code: int
) -> None:
    async with in_process(tmp_path, backend_name) as gw:  # no workers: admitted tasks stay in flight
        account = await gw.account("crowd", max_concurrent_tasks=limit.get("max_concurrent_tasks"))
        pack = await gw.gateway.accounting.grant_pack(
            account.account_id,
            quantity=limit.get("pack_units", "10000"),
            concurrency=limit.get("pack_concurrency"),
        )
        outcomes = await create_all(gw, account.bearer)
        assert outcomes == Counter({(200, 0): admitted, (429, code): CREATES - admitted})
        assert await gw.task_count(account) == admitted
        assert await entries(gw, account.account_id) == admitted
        found = await gw.gateway.ledger.pack(pack["resource_pack_id"])
        assert found is not None
        assert found.remaining_milli == found.total_milli - admitted * 1500 >= 0
