"""A synchronous call refused for an input that only decoding finds wrong leaves nothing behind.

``audio/tts``, ``videos/identify-face`` and ``videos/image-recognize`` admit (and charge) their
task, run it in the create call and answer with the finished task. When the run finds the input
at fault, the call answers 400/1201 naming the field, and, as for any refused create, nothing
stays: no task (search, the store), no events, no ledger entry (packs, costs, billing, daily
usage read as before), no result files, no idempotency record; the next good call works.

A real ``kling-gateway serve`` on loopback, on SQLite and on PostgreSQL (the ``backend`` fixture),
its store read directly for the counts no API shows (events, ledger rows, idempotency keys). A
server-side failure (the call's time limit) keeps its failed, refunded task: an in-process
gateway with a tiny ``sync_timeout_seconds``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import sqlalchemy as sa

from inprocess import in_process, relay_front
from kling_gateway.engines.reference.encode import write_mp4
from support import Account, GatewayProcess, b64, png_bytes, png_header_only

DAY = 86_400_000
ADMIN = "admin-" + "s" * 24
TTS = "/v1/audio/tts"
FACES = "/v1/videos/identify-face"
RECOGNIZE = "/v1/videos/image-recognize"


def video(width: int, height: int, seconds: float = 2.5, fps: int = 8) -> bytes:
    """A small H.264 mp4 of a bright block on grey (no audio)."""
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"sync-{os.getpid()}-{width}x{height}.mp4"

    def frames() -> Iterator[np.ndarray]:
        for _ in range(int(seconds * fps)):
            arr = np.full((height, width, 3), 90, np.uint8)
            arr[height // 4 : height * 3 // 4, width // 3 : width // 2] = (240, 220, 200)
            yield arr

    write_mp4(path, frames(), width, height, fps)
    data = path.read_bytes()
    path.unlink()
    return data


# (path, body the run refuses, the field the message names, words in it, a good body)
CASES: list[tuple[str, dict[str, Any], str, str, dict[str, Any]]] = [
    (
        TTS,
        {"text": "…", "voice_id": "oversea_male1", "voice_language": "en"},
        "text",
        "nothing to speak",
        {"text": "hello there", "voice_id": "oversea_male1", "voice_language": "en"},
    ),
    (
        FACES,
        {"video_url": b64(video(2200, 512))},
        "video_url",
        "edge over 2160 px",
        {"video_url": b64(video(640, 512))},
    ),
    (
        FACES,
        {"video_url": b64(video(320, 240))},
        "video_url",
        "edge under 512 px",
        {"video_url": b64(video(640, 512))},
    ),
    (
        RECOGNIZE,
        # a PNG header that passes the create-time check; its picture does not decode
        {"image": b64(png_header_only(600, 600))},
        "image",
        "does not decode",
        {"image": b64(png_bytes(600, 600))},
    ),
]


@pytest.fixture(scope="module")
def server(backend: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    env = {"KLING_GATEWAY_ADMIN_TOKEN": ADMIN}
    with GatewayProcess(tmp_path_factory.mktemp("sync"), database_url=backend, extra_env=env) as process:
        yield process


@pytest.fixture(scope="module")
def store(server: GatewayProcess) -> Iterator[sa.Engine]:
    url = server.database_url or f"sqlite:///{server.data_dir / 'gateway.sqlite3'}"
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture()
def http(server: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=120) as client:
        yield client


def funded(http: httpx.Client, name: str) -> Account:
    """A new account (the admin API) with a 10-unit pack of each kind the synchronous families
    draw on."""

    def admin(path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = http.post("/admin/v1" + path, json=body, headers={"Authorization": f"Bearer {ADMIN}"})
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()["data"]
        return data

    data = admin("/accounts", {"name": name})
    account = Account(
        data["account_id"], data["api_key"], data["access_key"], data["secret_key"], data["webhook_secret"]
    )
    for package in ("audio", "video", "image"):
        admin(f"/accounts/{account.account_id}/packs", {"quantity": "10", "package_type": package})
    return account


def rows(store: sa.Engine, account: Account) -> dict[str, int]:
    """What the store holds for the account: tasks, their events, ledger entries, idempotency keys."""
    queries = {
        "tasks": "SELECT count(*) FROM tasks WHERE account_id = :a",
        "events": "SELECT count(*) FROM task_events e JOIN tasks t ON t.id = e.task_id WHERE t.account_id = :a",
        "orphan_events": "SELECT count(*) FROM task_events WHERE task_id NOT IN (SELECT id FROM tasks)",
        "ledger": "SELECT count(*) FROM ledger WHERE account_id = :a",
        "idempotency": "SELECT count(*) FROM idempotency_keys WHERE account_id = :a",
    }
    with store.connect() as conn:
        return {
            name: int(conn.execute(sa.text(q), {"a": account.account_id}).scalar_one())
            for name, q in queries.items()
        }


def files(server: GatewayProcess) -> set[Path]:
    root = server.data_dir / "results"
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def window() -> dict[str, int]:
    now = int(time.time() * 1000)
    return {"start_time": now - DAY, "end_time": now + DAY}


def usage(http: httpx.Client, account: Account) -> dict[str, Any]:
    """Everything the account's APIs say about its tasks and units."""
    headers = account.bearer
    costs = http.get("/account/costs", params=window(), headers=headers)
    billing = http.post("/account/billing/package", json=window(), headers=headers)
    daily = http.get("/account/usage/daily", params=window(), headers=headers)
    found = http.get("/v1/tasks/search", params={"limit": 100}, headers=headers)
    for answer in (costs, billing, daily, found):
        assert answer.status_code == 200, answer.text
    return {
        "remaining": sorted(
            (p["resource_pack_id"], p["remaining_quantity"])
            for p in costs.json()["data"]["resource_pack_subscribe_infos"]
        ),
        "deductions": billing.json()["data"]["result"]["detail"],
        "daily": daily.json()["data"]["days"],
        "tasks": [(t["task_id"], t["task_status"]) for t in found.json()["data"]["tasks"]],
    }


@pytest.mark.parametrize(("path", "bad", "field", "words", "good"), CASES)
def test_refused_at_decode_time_leaves_nothing(
    server: GatewayProcess,
    store: sa.Engine,
    http: httpx.Client,
    path: str,
    bad: dict[str, Any],
    field: str,
    words: str,
    good: dict[str, Any],
) -> None:
    account = funded(http, "sync")
    # one good call first, so "unchanged" is measured against a ledger that has an entry
    first = http.post(path, json=good, headers=account.bearer)
    assert first.status_code == 200, first.text
    assert first.json()["data"]["task_status"] == "succeed"
    before, stored, seen = rows(store, account), files(server), usage(http, account)
    assert before["tasks"] == 1 and before["ledger"] == 1 and before["orphan_events"] == 0
    assert any(q < 10 for _, q in seen["remaining"])  # the good call drew on a pack

    key = {"Idempotency-Key": f"retry-{path}-{words}".replace(" ", "-")}
    refused = http.post(path, json=bad, headers={**account.bearer, **key})
    assert refused.status_code == 400, refused.text
    error = refused.json()
    assert error["code"] == 1201 and error["request_id"], error
    assert error["message"].startswith(f"{field}:") and words in error["message"], error

    assert rows(store, account) == before  # no task, event, ledger entry or idempotency record
    assert files(server) == stored  # no result files
    assert usage(http, account) == seen  # packs, costs, billing, daily usage and search as before

    # the same key again is evaluated afresh (a refused request keeps no key): the same 400
    again = http.post(path, json=bad, headers={**account.bearer, **key})
    assert (again.status_code, again.json()["message"]) == (400, error["message"])
    # and a good call after it still works, charged once
    after = http.post(path, json=good, headers={**account.bearer, **key})
    assert after.status_code == 200, after.text
    assert after.json()["data"]["task_status"] == "succeed"
    counts = rows(store, account)
    assert (counts["tasks"], counts["ledger"], counts["orphan_events"]) == (2, 2, 0)


# ---- a server-side failure keeps its record ----------------------------------------------------


@pytest.mark.asyncio
async def test_timeout_keeps_a_failed_refunded_task(tmp_path: Path) -> None:
    async with in_process(tmp_path, sync_timeout_seconds=0.001) as app:
        account = await app.account("slow")
        pack = await app.gateway.accounting.grant_pack(account.account_id, quantity="1", package_type="audio")
        body = {"text": "hello there", "voice_id": "oversea_male1", "voice_language": "en"}
        answer = await app.http.post(TTS, json=body, headers=account.bearer)
        assert answer.status_code == 504, answer.text
        assert answer.json()["code"] == 5002 and "did not finish within" in answer.json()["message"]
        found = await app.http.get("/v1/tasks/search", params={"family": "audio/tts"}, headers=account.bearer)
        (task,) = found.json()["data"]["tasks"]
        assert task["task_status"] == "failed" and "did not finish within" in task["task_status_msg"]
        entry = await app.gateway.ledger.entry(task["task_id"])
        assert entry is not None and entry.status == "refunded"
        kept = await app.gateway.ledger.pack(str(pack["resource_pack_id"]))
        assert kept is not None and kept.remaining_milli == 1000


@pytest.mark.asyncio
async def test_missing_synthesiser_is_the_hosts_fault(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No espeak-ng on the host is no fault of the text: 503/5001, the task kept failed."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # the render process is spawned with it
    async with in_process(tmp_path / "gw") as app:
        account = await app.account("mute")
        body = {"text": "hello there", "voice_id": "oversea_male1", "voice_language": "en"}
        answer = await app.http.post(TTS, json=body, headers=account.bearer)
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == 5001 and "espeak-ng" in answer.json()["message"]
        found = await app.http.get("/v1/tasks/search", params={"family": "audio/tts"}, headers=account.bearer)
        (task,) = found.json()["data"]["tasks"]
        assert task["task_status"] == "failed" and "espeak-ng" in task["task_status_msg"]
        entry = await app.gateway.ledger.entry(task["task_id"])
        assert entry is not None and entry.status == "refunded"
        # a finished task is never withdrawn (the compare-and-set on an active status)
        assert await app.gateway.tasks.withdraw(task["task_id"], int(time.time() * 1000)) is False
        assert await app.gateway.tasks.get(task["task_id"]) is not None


@pytest.mark.asyncio
async def test_upstream_rejection_of_a_relayed_call_leaves_nothing_on_the_front(
    server: GatewayProcess, store: sa.Engine, http: httpx.Client, tmp_path: Path
) -> None:
    """The front relays TTS to the loopback gateway, which refuses the text at run time: the
    front answers its 400/1201 and keeps nothing either."""
    upstream = funded(http, "relayed")
    async with relay_front(tmp_path, server.base_url, upstream.api_key, families=("audio/tts",)) as front:

        async def count() -> list[int]:
            async with front.gateway.db.read.connect() as conn:
                return [
                    int((await conn.execute(sa.text(f"SELECT count(*) FROM {t}"))).scalar_one())
                    for t in ("tasks", "task_events", "ledger")
                ]

        refused = await front.create(TTS, {"text": "…", "voice_id": "oversea_male1", "voice_language": "en"})
        assert refused.status_code == 400, refused.text
        assert refused.json()["code"] == 1201 and "text:" in refused.json()["message"]
        assert await count() == [0, 0, 0]
        assert rows(store, upstream)["tasks"] == 0  # the upstream kept nothing either
        good = await front.create(
            TTS, {"text": "hello there", "voice_id": "oversea_male1", "voice_language": "en"}
        )
        assert good.status_code == 200, good.text
        assert good.json()["data"]["task_status"] == "succeed"
        assert (await count())[0] == 1
