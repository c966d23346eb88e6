"""Callbacks end to end: a real gateway process POSTs to a real receiver on loopback.

The gateway runs with a short retry schedule (env vars below); timing checks are lower bounds
derived from that schedule, never upper bounds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from standardwebhooks import Webhook

from push_support import FLAKY_FAILURES, Receiver
from support import Account, GatewayProcess, free_port, wait_until

BASE_S, MAX_DELAY_S, JITTER = 0.4, 1.6, 0.25
PUSH_ENV = {
    "KLING_GATEWAY_CALLBACK_RETRY_BASE_SECONDS": str(BASE_S),
    "KLING_GATEWAY_CALLBACK_RETRY_MAX_DELAY_SECONDS": str(MAX_DELAY_S),
    "KLING_GATEWAY_CALLBACK_RETRY_JITTER": str(JITTER),
    "KLING_GATEWAY_CALLBACK_TIMEOUT_SECONDS": "3",
    "KLING_GATEWAY_CALLBACK_MAX_ATTEMPTS": "40",
    "KLING_GATEWAY_CALLBACK_RETRY_WINDOW_SECONDS": "120",
    "KLING_GATEWAY_CALLBACK_POLL_SECONDS": "0.5",
}
PATH = "/v1/images/generations"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gw(backend: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    with GatewayProcess(tmp_path_factory.mktemp("push"), database_url=backend, extra_env=PUSH_ENV) as server:
        yield server


@pytest.fixture(scope="module")
def acct(gw: GatewayProcess) -> Account:
    return gw.create_account("push")


@pytest.fixture()
def client(gw: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.base_url, timeout=30) as c:
        yield c


def create(client: httpx.Client, acct: Account, callback_url: str) -> str:
    response = client.post(
        PATH, json={"prompt": "a lighthouse", "callback_url": callback_url}, headers=acct.bearer
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]["task_id"]


def deliveries(
    client: httpx.Client, acct: Account, task_id: str, prefix: str = "/v1"
) -> list[dict[str, Any]]:
    response = client.get(f"{prefix}/images/generations/{task_id}/callbacks", headers=acct.bearer)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def settled(client: httpx.Client, acct: Account, task_id: str) -> list[dict[str, Any]] | None:
    """The task's deliveries once it is terminal and none is pending any more."""
    found = deliveries(client, acct, task_id)
    statuses = {d["task_status"] for d in found}
    if (
        "processing" in statuses
        and statuses & {"succeed", "failed"}
        and all(d["state"] != "pending" for d in found)
    ):
        return found
    return None


def test_retried_until_delivered_signed_with_stable_ids(
    client: httpx.Client, acct: Account, gw: GatewayProcess, receiver: Receiver
) -> None:
    name = f"flaky-{uuid.uuid4().hex[:8]}"
    task_id = create(client, acct, receiver.hook(name))
    found = wait_until(lambda: settled(client, acct, task_id), what="callbacks delivered")

    assert [d["task_status"] for d in found] == ["processing", "succeed"]
    assert all(d["state"] == "delivered" for d in found), found
    hits = receiver.hits(name)
    verifier = Webhook(acct.webhook_secret)
    by_id: dict[str, list[Any]] = {}
    for hit in hits:
        payload = verifier.verify(hit.body, hit.headers)  # raises when the signature is wrong
        assert payload == hit.json
        assert "code" not in payload and payload["task_id"] == task_id  # the bare task object
        by_id.setdefault(hit.webhook_id, []).append(hit)
    # one stable webhook-id per change, the same on every retry of that change
    assert set(by_id) == {d["webhook_id"] for d in found}
    for delivery in found:
        tries = by_id[delivery["webhook_id"]]
        assert [t.answered for t in tries] == [500] * FLAKY_FAILURES + [200]
        assert {t.json["task_status"] for t in tries} == {delivery["task_status"]}
        history = delivery["history"]
        assert [h["status_code"] for h in history] == [500] * FLAKY_FAILURES + [200]
        assert delivery["attempts"] == FLAKY_FAILURES + 1 and delivery["last_status_code"] == 200
        # retries follow the schedule: gap k >= base * 2^(k-1) * (1 - jitter), capped (lower bounds only)
        for k, (before, after) in enumerate(zip(history, history[1:], strict=False), start=1):
            floor_ms = min(MAX_DELAY_S, BASE_S * 2 ** (k - 1)) * (1 - JITTER) * 1000
            assert after["started_at"] - before["started_at"] >= floor_ms - 50, history
    final = by_id[found[1]["webhook_id"]][-1].json
    assert final["task_status"] == "succeed"
    image_url = final["task_result"]["images"][0]["url"]
    assert image_url.startswith(gw.base_url + "/")  # absolute, signed, fetchable without a request
    assert client.get(image_url).status_code == 200
    early = by_id[found[0]["webhook_id"]][-1].json
    assert early["task_result"] == {} and early["updated_at"] <= final["updated_at"]


def test_gone_stops_retries(client: httpx.Client, acct: Account, receiver: Receiver) -> None:
    name = f"gone-{uuid.uuid4().hex[:8]}"
    task_id = create(client, acct, receiver.hook(name))
    found = wait_until(lambda: settled(client, acct, task_id), what="callbacks settled")
    for delivery in found:
        assert delivery["state"] == "gave_up" and delivery["attempts"] == 1, delivery
        assert delivery["last_status_code"] == 410 and "410" in delivery["last_error"]
    # no retry follows: a flaky hook registered afterwards is retried until delivered (several
    # retry rounds of the same dispatcher), and the gone hook is still at its first attempts
    witness = f"flaky-{uuid.uuid4().hex[:8]}"
    witness_id = create(client, acct, receiver.hook(witness))
    wait_until(lambda: settled(client, acct, witness_id), what="the witness's retried callbacks")
    assert len(receiver.hits(witness)) > FLAKY_FAILURES  # it really was retried
    assert len(receiver.hits(name)) == len(found) == 2
    assert all(d["attempts"] == 1 for d in deliveries(client, acct, task_id))


def test_blocked_destination_is_given_up_with_reason(client: httpx.Client, acct: Account) -> None:
    task_id = create(client, acct, "http://10.255.255.1/hook")
    found = wait_until(lambda: settled(client, acct, task_id), what="callbacks settled")
    for delivery in found:
        assert delivery["state"] == "gave_up" and delivery["attempts"] == 1
        assert delivery["last_status_code"] is None
        assert "private address" in delivery["last_error"], delivery["last_error"]


def test_callbacks_route_layouts_and_ownership(
    client: httpx.Client, acct: Account, gw: GatewayProcess, receiver: Receiver
) -> None:
    task_id = create(client, acct, receiver.hook(f"ok-{uuid.uuid4().hex[:8]}"))
    official = wait_until(lambda: settled(client, acct, task_id), what="callbacks delivered")
    assert deliveries(client, acct, task_id, prefix="/kling/v1") == official
    stranger = gw.create_account("stranger")
    response = client.get(f"{PATH}/{task_id}/callbacks", headers=stranger.bearer)
    assert response.status_code == 404 and response.json()["code"] == 1203
    assert client.get(f"{PATH}/{task_id}/callbacks").status_code == 401
    # a task without callback_url has no deliveries
    plain = client.post(PATH, json={"prompt": "no hook"}, headers=acct.bearer).json()["data"]["task_id"]
    assert deliveries(client, acct, plain) == []


def _drop_deliveries(database_url: str, task_id: str) -> None:
    """Simulate a crash between a status commit and its delivery rows being written."""
    url = database_url.replace("+aiosqlite", "")
    engine = create_engine(url)
    with engine.begin() as conn:
        ids = "SELECT id FROM callback_deliveries WHERE task_id = :t"
        conn.execute(text(f"DELETE FROM callback_attempts WHERE delivery_id IN ({ids})"), {"t": task_id})
        conn.execute(text("DELETE FROM callback_deliveries WHERE task_id = :t"), {"t": task_id})
    engine.dispose()


def test_pending_deliveries_survive_a_restart(
    client: httpx.Client, acct: Account, gw: GatewayProcess
) -> None:
    down = Receiver(port=free_port())  # not started: connections are refused
    pending = create(client, acct, down.hook("ok-pending"))
    lost = create(client, acct, down.hook("ok-lost"))

    def failing() -> bool:
        return all(
            len(found) == 2 and all(d["attempts"] >= 1 and d["state"] == "pending" for d in found)
            for found in (deliveries(client, acct, pending), deliveries(client, acct, lost))
        )

    wait_until(failing, what="failed first attempts")
    gw.stop()
    database_url = gw.database_url or f"sqlite+aiosqlite:///{(gw.data_dir / 'gateway.sqlite3').resolve()}"
    _drop_deliveries(database_url, lost)
    gw.start()
    down.start()
    try:
        for task_id in (pending, lost):
            found = wait_until(lambda t=task_id: settled(client, acct, t), what="deliveries after restart")
            assert all(d["state"] == "delivered" for d in found), found
        verifier = Webhook(acct.webhook_secret)
        for name in ("ok-pending", "ok-lost"):
            statuses = sorted(
                verifier.verify(hit.body, hit.headers)["task_status"] for hit in down.hits(name)
            )
            assert statuses == ["processing", "succeed"], statuses
    finally:
        down.stop()
