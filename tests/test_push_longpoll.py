"""Long-poll (``Prefer: wait=N``) and the Server-Sent Events stream against a real gateway.

Tasks are held in ``submitted`` by an input image the test serves and releases when it wants
(:class:`Receiver` ``/hold``): the worker fetches inputs before it marks a task processing.
Releasing with a PNG lets the task run; releasing with 404 fails it (a terminal change).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from push_support import (
    LONG_WAIT,
    PATH,
    Receiver,
    held_task,
    in_background,
    joined,
    read_stream,
    waiters,
)
from support import Account, GatewayProcess, wait_until

CLIENTS = 1000


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gw(backend: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    env = {"KLING_GATEWAY_SSE_KEEPALIVE_SECONDS": "0.3"}
    with GatewayProcess(tmp_path_factory.mktemp("poll"), database_url=backend, extra_env=env) as server:
        yield server


@pytest.fixture(scope="module")
def acct(gw: GatewayProcess) -> Account:
    return gw.create_account("poll")


@pytest.fixture()
def client(gw: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.base_url, timeout=LONG_WAIT + 30) as c:
        yield c


# ---- long-poll -----------------------------------------------------------------------------


def test_wait_returns_on_change_not_after_n(client: httpx.Client, acct: Account, receiver: Receiver) -> None:
    task_id, key = held_task(client, acct, receiver)
    first = client.get(f"{PATH}/{task_id}", headers=acct.bearer)
    assert first.json()["data"]["task_status"] == "submitted"
    etag = first.headers["etag"]
    before = waiters(client, acct)

    def poll() -> tuple[httpx.Response, float]:
        started = time.monotonic()
        headers = {**acct.bearer, "Prefer": f"wait={LONG_WAIT}", "If-None-Match": etag}
        return client.get(f"{PATH}/{task_id}", headers=headers), time.monotonic() - started

    thread, out = in_background(poll)
    wait_until(lambda: waiters(client, acct) > before, what="the long-poll to wait")
    receiver.release(key)
    response, elapsed = joined(thread, out)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["task_status"] in ("processing", "succeed")
    assert elapsed < LONG_WAIT  # woken by the change, not by the timer
    assert response.headers["preference-applied"] == f"wait={LONG_WAIT}"
    assert response.headers["etag"] == f'W/"{data["task_status"]}-{data["updated_at"]}"'

    # from the state just seen, the next wait ends at the terminal state
    final = response
    while final.json()["data"]["task_status"] != "succeed":
        headers = {**acct.bearer, "Prefer": f"wait={LONG_WAIT}", "If-None-Match": final.headers["etag"]}
        started = time.monotonic()
        final = client.get(f"{PATH}/{task_id}", headers=headers)
        assert time.monotonic() - started < LONG_WAIT
    assert final.json()["data"]["task_result"]["images"]


def test_thousand_waiters_get_the_terminal_state_with_few_queries(
    client: httpx.Client, acct: Account, receiver: Receiver, gw: GatewayProcess
) -> None:
    task_id, key = held_task(client, acct, receiver)
    base = waiters(client, acct)
    results: list[dict[str, Any]] = []
    snapshot: dict[str, Any] = {}

    async def run() -> None:
        # httpx's pool costs O(connections) per request: ten pools of a hundred keep the client fast
        limits = httpx.Limits(
            max_connections=CLIENTS // 10 + 10, max_keepalive_connections=CLIENTS // 10 + 10
        )
        pools = [
            httpx.AsyncClient(base_url=gw.base_url, limits=limits, timeout=LONG_WAIT + 60) for _ in range(10)
        ]
        stats = pools[0]
        try:
            headers = {**acct.bearer, "Prefer": f"wait={LONG_WAIT}"}
            started = time.monotonic()
            requests = [
                asyncio.create_task(pools[i % 10].get(f"{PATH}/{task_id}", headers=headers))
                for i in range(CLIENTS)
            ]
            while (await stats.get("/push/stats", headers=acct.bearer)).json()["hub"][
                "waiters"
            ] < base + CLIENTS:
                assert time.monotonic() - started < LONG_WAIT * 2 / 3, "clients did not all start waiting"
                await asyncio.sleep(0.1)
            snapshot["before"] = (await stats.get("/push/stats", headers=acct.bearer)).json()
            snapshot["released"] = time.monotonic()
            receiver.release(key, 404)  # the input fetch fails: submitted -> failed, terminal
            for response in await asyncio.gather(*requests):
                assert response.status_code == 200
                results.append(response.json()["data"])
            snapshot["done"] = time.monotonic()
            snapshot["after"] = (await stats.get("/push/stats", headers=acct.bearer)).json()
        finally:
            for pool in pools:
                await pool.aclose()

    asyncio.run(run())
    assert len(results) == CLIENTS
    assert {r["task_status"] for r in results} == {"failed"}
    assert snapshot["done"] - snapshot["released"] < LONG_WAIT
    before, after = snapshot["before"], snapshot["after"]
    queries = after["store_queries"] - before["store_queries"] - 1  # minus the stats request itself
    rereads = after["longpoll"]["store_reads"] - before["longpoll"]["store_reads"]
    print(
        f"\n{CLIENTS} long-pollers on one task: {queries} store queries in the process while they were "
        f"woken and answered ({rereads} long-poll re-read(s)), "
        f"{snapshot['done'] - snapshot['released']:.2f} s from release to the last answer"
    )
    assert rereads <= 3
    assert queries < CLIENTS / 10


# ---- event stream ---------------------------------------------------------------------------


def test_event_stream_sends_each_change_once_in_order(
    client: httpx.Client, acct: Account, receiver: Receiver
) -> None:
    task_id, key = held_task(client, acct, receiver)
    events, keepalives = read_stream(client, acct, task_id, on_open=lambda: receiver.release(key))
    assert [e["event"] for e in events] == ["submitted", "processing", "succeed"]
    ids = [e["id"] for e in events]
    assert ids == sorted(set(ids))
    assert keepalives >= 1  # the task sat idle in submitted until released
    for event in events:
        assert event["data"]["task_id"] == task_id and event["data"]["task_status"] == event["event"]
    assert events[-1]["data"]["task_result"]["images"]
    assert events[0]["data"]["task_result"] == {}


def test_event_stream_resumes_after_last_event_id(
    client: httpx.Client, acct: Account, receiver: Receiver
) -> None:
    task_id, key = held_task(client, acct, receiver)
    first, _ = read_stream(client, acct, task_id, stop_after=1)  # disconnect mid-stream
    assert [e["event"] for e in first] == ["submitted"]
    receiver.release(key)
    rest, _ = read_stream(client, acct, task_id, last_event_id=str(first[0]["id"]))
    assert [e["event"] for e in rest] == ["processing", "succeed"]
    everything, _ = read_stream(client, acct, task_id)
    assert [e["id"] for e in first + rest] == [e["id"] for e in everything]
    tail, _ = read_stream(client, acct, task_id, last_event_id=str(rest[0]["id"]))
    assert [e["event"] for e in tail] == ["succeed"]
    done, _ = read_stream(client, acct, task_id, last_event_id=str(rest[-1]["id"]))
    assert done == []
    response = client.get(f"{PATH}/{task_id}/events", headers={**acct.bearer, "Last-Event-ID": "abc"})
    assert response.status_code == 400 and response.json()["code"] == 1201
    response = client.get(f"/kling/v1/images/generations/{task_id}/events", headers=acct.bearer)
    assert response.status_code == 200 and response.text.count("event: ") == 3
