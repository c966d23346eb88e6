"""Long-poll (``Prefer: wait=N``) rules in-process, on SQLite and PostgreSQL. The app runs without
workers, so a created task stays ``submitted`` for as long as the test needs."""

from __future__ import annotations

import time

import httpx
import pytest

from support import Account

pytestmark = pytest.mark.asyncio(loop_scope="module")

PATH = "/v1/images/generations"
LONG_WAIT = 30


async def test_wait_expires_with_current_state(client: httpx.AsyncClient, account: Account) -> None:
    created = await client.post(PATH, json={"prompt": "a held task"}, headers=account.bearer)
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["task_id"]
    started = time.monotonic()
    response = await client.get(f"{PATH}/{task_id}", headers={**account.bearer, "Prefer": "wait=1"})
    assert time.monotonic() - started >= 0.9  # it did wait for the change that never came
    assert response.status_code == 200 and response.json()["code"] == 0
    assert response.json()["data"]["task_status"] == "submitted"
    assert response.headers["preference-applied"] == "wait=1"
    # a client that saw another state is answered at once
    headers = {**account.bearer, "Prefer": f"wait={LONG_WAIT}", "If-None-Match": 'W/"processing-1"'}
    started = time.monotonic()
    response = await client.get(f"{PATH}/{task_id}", headers=headers)
    assert response.json()["data"]["task_status"] == "submitted"
    assert time.monotonic() - started < LONG_WAIT
    # no Prefer: no wait, no Preference-Applied, still an ETag
    response = await client.get(f"{PATH}/{task_id}", headers=account.bearer)
    assert "preference-applied" not in response.headers
    assert response.headers["etag"].startswith('W/"submitted-')
