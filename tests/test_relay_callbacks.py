"""The relay callback route (``POST /relay/callback/{task_id}/{token}``), in process: its errors
in the Kling envelope, and what a verified callback does (kept for the task's next run)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kling_gateway.api import create_app
from kling_gateway.config import Settings
from kling_gateway.engines.relay.callbacks import callback_url
from kling_gateway.ids import now_ms
from kling_gateway.keys import create_account
from kling_gateway.schemas import TaskStatus
from support import new_task_row

CHANNEL = {"name": "up", "type": "kling-compatible", "base_url": "http://127.0.0.1:9", "api_key": "k"}
BASE = "http://gw.test"


@pytest.fixture()
async def gw(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    settings = Settings(data_dir=tmp_path / "data", workers=0, channels=[CHANNEL])
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield client, app.state.gateway


async def _task(gateway: Any, status: TaskStatus, upstream_task_id: str | None) -> str:
    account = await create_account(gateway.accounts, gateway.box, "t")
    fresh = new_task_row(account.account_id, "videos/text2video", {})
    row = dataclasses.replace(
        fresh,
        status=status,
        engine="up",
        upstream_task_id=upstream_task_id,
        available_at=fresh.created_at + 60_000,
    )
    await gateway.tasks.insert(row)
    return row.id


def _url(gateway: Any, task_id: str) -> str:
    return callback_url(BASE, gateway.settings.secret(), task_id)


async def test_bad_token_is_1000_in_the_envelope(gw: tuple[httpx.AsyncClient, Any]) -> None:
    client, gateway = gw
    task_id = await _task(gateway, TaskStatus.PROCESSING, "up-1")
    url = _url(gateway, task_id).rsplit("/", 1)[0] + "/" + "0" * 32
    r = await client.post(url, json={"task_id": "up-1", "task_status": "succeed"})
    assert r.status_code == 401
    body = r.json()
    assert (body["code"], body["message"]) == (1000, "bad callback token")
    assert body["request_id"] == r.headers["x-request-id"]
    assert gateway.relay_inbox.peek(task_id) is None


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", b'{"task_id": "up-1"}', b'{"data": {"x": 1}}'])
async def test_a_body_that_is_no_task_object_is_1200(
    gw: tuple[httpx.AsyncClient, Any], payload: bytes
) -> None:
    client, gateway = gw
    task_id = await _task(gateway, TaskStatus.PROCESSING, "up-1")
    r = await client.post(_url(gateway, task_id), content=payload)
    assert r.status_code == 400
    assert (r.json()["code"], r.json()["message"]) == (1200, "callback body is not a task object")
    assert gateway.relay_inbox.peek(task_id) is None


async def test_a_verified_callback_is_kept_and_the_task_made_runnable(
    gw: tuple[httpx.AsyncClient, Any],
) -> None:
    client, gateway = gw
    task_id = await _task(gateway, TaskStatus.PROCESSING, "up-1")
    wrapped = {"code": 0, "data": {"task_id": "up-1", "task_status": "succeed"}}  # wrapped form tolerated
    r = await client.post(_url(gateway, task_id), json=wrapped)
    assert r.status_code == 200
    assert r.json()["code"] == 0 and "data" not in r.json()
    assert gateway.relay_inbox.peek(task_id) == wrapped["data"]
    row = await gateway.tasks.get(task_id)
    assert row.available_at <= now_ms()  # runnable at once, not in a minute


async def test_callbacks_for_other_or_finished_tasks_are_ignored(gw: tuple[httpx.AsyncClient, Any]) -> None:
    client, gateway = gw
    other = await _task(gateway, TaskStatus.PROCESSING, "up-1")
    done = await _task(gateway, TaskStatus.SUCCEED, "up-2")
    for task_id, upstream_id in ((other, "up-999"), (done, "up-2"), ("404", "up-3")):
        r = await client.post(_url(gateway, task_id), json={"task_id": upstream_id, "task_status": "failed"})
        assert r.status_code == 200 and r.json()["code"] == 0  # 2xx: the upstream stops retrying
        assert gateway.relay_inbox.peek(task_id) is None
