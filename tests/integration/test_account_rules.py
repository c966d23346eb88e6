"""Accounts in-process, on SQLite and PostgreSQL: secrets at rest, isolation between accounts, and
the task list (newest first, paged, one family at a time)."""

from __future__ import annotations

import sqlite3

import httpx
import pytest

from inprocess import InProcessGateway
from support import Account

pytestmark = pytest.mark.asyncio(loop_scope="module")

T2V = "/v1/videos/text2video"
T2A = "/v1/audio/text-to-audio"


async def test_secrets_are_not_stored_in_plain_text(
    app_gateway: InProcessGateway, account: Account, backend: str | None
) -> None:
    if backend is not None:
        pytest.skip("checked on the SQLite file; PostgreSQL stores the same columns")
    db_file = app_gateway.settings.data_dir / "gateway.sqlite3"
    wal = db_file.with_name(db_file.name + "-wal")
    raw = db_file.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    for secret in (account.api_key, account.secret_key, account.webhook_secret):
        assert secret.encode() not in raw
    with sqlite3.connect(db_file) as conn:
        stored = conn.execute(
            "select api_key_hash, secret_key_enc from accounts where id=?", (account.account_id,)
        ).fetchone()
    assert len(stored[0]) == 64 and stored[1] != account.secret_key


async def test_other_accounts_task_looks_like_a_missing_one(
    client: httpx.AsyncClient, account: Account, other_account: Account
) -> None:
    created = await client.post(
        T2V, json={"prompt": "mine", "external_task_id": "iso-1"}, headers=account.bearer
    )
    task_id = created.json()["data"]["task_id"]
    missing = await client.get(f"{T2V}/999999999999999998", headers=other_account.bearer)
    foreign = await client.get(f"{T2V}/{task_id}", headers=other_account.bearer)
    foreign_ext = await client.get(f"{T2V}/iso-1", headers=other_account.bearer)
    for response in (foreign, foreign_ext):
        assert response.status_code == missing.status_code == 404
        assert response.json()["code"] == missing.json()["code"] == 1203
    listed = (await client.get(T2V, params={"pageSize": 500}, headers=other_account.bearer)).json()["data"]
    assert task_id not in {t["task_id"] for t in listed}
    # the same external id is free for the other account
    theirs = await client.post(
        T2V, json={"prompt": "theirs", "external_task_id": "iso-1"}, headers=other_account.bearer
    )
    assert theirs.status_code == 200
    assert theirs.json()["data"]["task_id"] != task_id


async def test_list_newest_first_and_paged(app_gateway: InProcessGateway, client: httpx.AsyncClient) -> None:
    h = (await app_gateway.create_account("lister")).bearer
    ids = []
    for i in range(3):
        r = await client.post(T2A, json={"prompt": f"beep {i}", "duration": 3}, headers=h)
        assert r.status_code == 200, r.text
        ids.append(r.json()["data"]["task_id"])
    page = (await client.get(T2A, params={"pageNum": 1, "pageSize": 2}, headers=h)).json()["data"]
    assert [t["task_id"] for t in page] == [ids[2], ids[1]]
    page2 = await client.get("/kling/v1/audio/text-to-audio", params={"pageNum": 2, "pageSize": 2}, headers=h)
    assert [t["task_id"] for t in page2.json()["data"]] == [ids[0]]
    beyond = await client.get(T2A, params={"pageNum": 3, "pageSize": 2}, headers=h)
    assert beyond.status_code == 200 and beyond.json()["data"] == []
    # other families are not mixed in
    t2v_list = (await client.get(T2V, params={"pageSize": 500}, headers=h)).json()["data"]
    assert not {t["task_id"] for t in t2v_list} & set(ids)
