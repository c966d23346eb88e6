"""``Idempotency-Key`` on creates (issue #13, beyond the list), on SQLite and PostgreSQL: a retry
gets the same task, concurrent retries create one, another body with the key is a 409, a refused
first request leaves the key free, and keys are per account."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from inprocess import InProcess, in_process
from kling_gateway.ids import now_ms

T2V = "/v1/videos/text2video"


@pytest.fixture(params=["sqlite", "postgres"])
async def gw(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(tmp_path, request.param) as running:
        yield running


async def test_a_retry_gets_the_same_task(gw: InProcess) -> None:
    account = await gw.account()
    headers = {**account.bearer, "Idempotency-Key": "retry-1"}
    first = await gw.http.post(T2V, json={"prompt": "a cat"}, headers=headers)
    again = await gw.http.post(T2V, json={"prompt": "a cat"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json()["data"]["task_id"] == again.json()["data"]["task_id"]
    assert "idempotent-replayed" not in first.headers and again.headers["idempotent-replayed"] == "true"
    assert await gw.task_count(account) == 1
    other = await gw.http.post(
        T2V, json={"prompt": "a cat"}, headers={**account.bearer, "Idempotency-Key": "2"}
    )
    assert other.json()["data"]["task_id"] != first.json()["data"]["task_id"]  # a new key: a new task


async def test_concurrent_retries_create_one_task(gw: InProcess) -> None:
    account = await gw.account()
    headers = {**account.bearer, "Idempotency-Key": "storm"}
    answers = await asyncio.gather(
        *(gw.http.post(T2V, json={"prompt": "p"}, headers=headers) for _ in range(20))
    )
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["data"]["task_id"] for a in answers}) == 1
    assert await gw.task_count(account) == 1


async def test_same_key_other_body_is_409(gw: InProcess) -> None:
    account = await gw.account()
    headers = {**account.bearer, "Idempotency-Key": "k1"}
    assert (await gw.http.post(T2V, json={"prompt": "one"}, headers=headers)).status_code == 200
    resp = await gw.http.post(T2V, json={"prompt": "two"}, headers=headers)
    body = resp.json()
    assert resp.status_code == 409 and body["code"] == 1201, body
    assert "Idempotency-Key 'k1' was already used with a different request" in body["message"]
    other_route = await gw.http.post("/v1/images/generations", json={"prompt": "one"}, headers=headers)
    assert other_route.status_code == 409  # the route is part of the request
    assert await gw.task_count(account) == 1


async def test_a_refused_first_request_leaves_the_key_free(gw: InProcess) -> None:
    account = await gw.account()
    headers = {**account.bearer, "Idempotency-Key": "fix-and-retry"}
    bad = await gw.http.post(T2V, json={"prompt": "p", "duration": "7"}, headers=headers)
    assert bad.status_code == 400 and bad.json()["code"] == 1201
    assert await gw.task_count(account) == 0
    fixed = await gw.http.post(T2V, json={"prompt": "p", "duration": "5"}, headers=headers)
    assert fixed.status_code == 200 and "idempotent-replayed" not in fixed.headers


async def test_keys_are_per_account_and_validated(gw: InProcess) -> None:
    alice, bob = await gw.account("alice"), await gw.account("bob")
    a = await gw.http.post(T2V, json={"prompt": "p"}, headers={**alice.bearer, "Idempotency-Key": "same"})
    b = await gw.http.post(T2V, json={"prompt": "p"}, headers={**bob.bearer, "Idempotency-Key": "same"})
    assert a.json()["data"]["task_id"] != b.json()["data"]["task_id"]
    long_key = await gw.http.post(
        T2V, json={"prompt": "p"}, headers={**alice.bearer, "Idempotency-Key": "x" * 256}
    )
    assert long_key.status_code == 400 and "Idempotency-Key: must be 1–255" in long_key.json()["message"]


async def test_an_expired_key_starts_over(tmp_path: Path) -> None:
    async with in_process(tmp_path, idempotency_ttl_seconds=0.0) as gw:
        account = await gw.account()
        headers = {**account.bearer, "Idempotency-Key": "old"}
        first = await gw.http.post(T2V, json={"prompt": "p"}, headers=headers)
        created = now_ms()
        while now_ms() <= created:  # past a 0 s memory (ms clock): the next use is a new request
            await asyncio.sleep(0)
        second = await gw.http.post(T2V, json={"prompt": "q"}, headers=headers)
        assert second.status_code == 200
        assert first.json()["data"]["task_id"] != second.json()["data"]["task_id"]


async def test_the_sweeper_purges_expired_keys(tmp_path: Path) -> None:
    async with in_process(tmp_path, idempotency_ttl_seconds=0.0) as gw:
        account = await gw.account()
        await gw.http.post(T2V, json={"prompt": "p"}, headers={**account.bearer, "Idempotency-Key": "gone"})
        assert await gw.gateway.idempotency.get(account.account_id, "gone") is not None
        created = now_ms()
        while now_ms() <= created:
            await asyncio.sleep(0)
        assert gw.gateway.maintenance is not None
        await gw.gateway.maintenance.sweep()
        assert await gw.gateway.idempotency.get(account.account_id, "gone") is None
