"""Push across processes on PostgreSQL: LISTEN/NOTIFY carries a change made by process A's worker
to long-polls and event streams waiting on process B (an API-only replica on the same database),
and the two callback dispatchers never send the same delivery twice.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from standardwebhooks import Webhook

from push_support import (
    LONG_WAIT,
    PATH,
    Receiver,
    held_task,
    in_background,
    joined,
    push_stats,
    read_stream,
    waiters,
)
from support import Account, GatewayProcess, PostgresDatabase, postgres_available, require_service, wait_until

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    require_service(postgres_available(), "PostgreSQL is not reachable on 127.0.0.1:5432")
    database = PostgresDatabase()
    data_dir = tmp_path_factory.mktemp("pg-pair")  # shared: same master key and URL secret
    worker = GatewayProcess(data_dir, database_url=database.url)
    replica = GatewayProcess(
        data_dir,
        database_url=database.url,
        extra_env={
            "KLING_GATEWAY_WORKERS": "0",
            "KLING_GATEWAY_SSE_KEEPALIVE_SECONDS": "0.3",
        },
    )
    try:
        worker.start()
        replica.start()
        yield worker, replica
    finally:
        replica.stop()
        worker.stop()
        database.drop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def test_change_on_one_process_wakes_waiters_on_another(
    pair: tuple[GatewayProcess, GatewayProcess], receiver: Receiver
) -> None:
    worker, replica = pair
    acct: Account = worker.create_account("pg-pair")
    hook = f"ok-{uuid.uuid4().hex[:8]}"
    with (
        httpx.Client(base_url=replica.base_url, timeout=LONG_WAIT + 30) as b,
        httpx.Client(base_url=worker.base_url, timeout=30) as a,
    ):
        task_id, key = held_task(b, acct, receiver)  # created on B, run by A's workers
        first = b.get(f"{PATH}/{task_id}", headers=acct.bearer)
        assert first.json()["data"]["task_status"] == "submitted"

        def long_poll() -> tuple[httpx.Response, float]:
            started = time.monotonic()
            headers = {**acct.bearer, "Prefer": f"wait={LONG_WAIT}", "If-None-Match": first.headers["etag"]}
            return b.get(f"{PATH}/{task_id}", headers=headers), time.monotonic() - started

        poll_thread, poll_out = in_background(long_poll)
        stream_thread, stream_out = in_background(lambda: read_stream(b, acct, task_id))
        wait_until(lambda: waiters(b, acct) >= 2, what="a long-poll and a stream waiting on B")
        receiver.release(key)  # A's worker fetches the input, runs and finishes the task

        response, elapsed = joined(poll_thread, poll_out)
        assert response.json()["data"]["task_status"] in ("processing", "succeed")
        assert elapsed < LONG_WAIT  # woken through NOTIFY, not by B's timer
        events, _ = joined(stream_thread, stream_out)
        assert [e["event"] for e in events] == ["submitted", "processing", "succeed"]

        final = response
        while final.json()["data"]["task_status"] != "succeed":
            headers = {**acct.bearer, "Prefer": f"wait={LONG_WAIT}", "If-None-Match": final.headers["etag"]}
            started = time.monotonic()
            final = b.get(f"{PATH}/{task_id}", headers=headers)
            assert time.monotonic() - started < LONG_WAIT

        bridge_a = push_stats(a, acct.bearer)["bridge"]
        bridge_b = push_stats(b, acct.bearer)["bridge"]
        assert bridge_a["listening"] and bridge_b["listening"]
        assert bridge_a["sent"] >= 2 and bridge_b["received"] >= 2

        # callbacks: two dispatchers on one database, each change sent exactly once
        plain = b.post(
            PATH, json={"prompt": "pair", "callback_url": receiver.hook(hook)}, headers=acct.bearer
        )
        plain_id = plain.json()["data"]["task_id"]

        def delivered_task(task: str) -> list[dict[str, object]] | None:
            found = b.get(f"{PATH}/{task}/callbacks", headers=acct.bearer).json()["data"]
            ok = len(found) == 2 and all(d["state"] == "delivered" for d in found)
            return found if ok else None

        found = wait_until(lambda: delivered_task(plain_id), what="callbacks delivered")
        # room for a duplicate send, should one happen: the dispatchers' later rounds deliver a
        # witness task's callbacks too before the receiver's record is read
        witness = a.post(
            PATH, json={"prompt": "witness", "callback_url": receiver.hook(hook + "-w")}, headers=acct.bearer
        )
        witness_id = witness.json()["data"]["task_id"]
        wait_until(lambda: delivered_task(witness_id), what="the witness's callbacks delivered")
        hits = receiver.hits(hook)
        assert sorted(h.webhook_id for h in hits) == sorted(str(d["webhook_id"]) for d in found)
        for hit in hits:
            Webhook(acct.webhook_secret).verify(hit.body, hit.headers)
