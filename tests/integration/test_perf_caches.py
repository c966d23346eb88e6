"""The caches on the polling hot path (the app in process, SQLite and PostgreSQL): what they may
serve and for how long.

- the authenticated-key cache: a key revoked through another process (another gateway on the same
  store) is refused once :data:`~kling_gateway.auth.CACHE_SECONDS` have passed (a fake clock, no
  sleeps);
- a task's answer is kept only once the task is terminal, is found again by task id and by
  external_task_id within the account only, and carries signed URLs that verify and still live
  at least the URL TTL; a new URL bucket rebuilds it;
- list pages (deferred join on the list index) keep newest-first order across pages; deep pages
  read through keyset anchors are the plain OFFSET query's rows, also after tasks are inserted
  (by this process or another one on the same store) or withdrawn.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select, update

from inprocess import InProcessGateway
from kling_gateway import auth
from kling_gateway.errors import KlingError
from kling_gateway.gateway import Gateway
from kling_gateway.ids import new_numeric_id, now_ms
from kling_gateway.present import TaskAnswers
from kling_gateway.storage import signing
from kling_gateway.store.tables import tasks
from kling_gateway.store.tasks import TaskStore
from kling_gateway.tokens import mint_jwt
from support import Account

pytestmark = pytest.mark.asyncio(loop_scope="module")

TEXT2VIDEO = "/kling/v1/videos/text2video"
BODY = {"model_name": "kling-v2-6", "prompt": "a fox", "duration": "5"}


@dataclass
class Rig:
    running: InProcessGateway
    key: Account

    @property
    def gateway(self) -> Gateway:
        return self.running.gateway

    @property
    def http(self) -> httpx.AsyncClient:
        return self.running.client

    @property
    def answers(self) -> TaskAnswers:
        answers: TaskAnswers = self.running.app.services.answers
        return answers

    @property
    def base(self) -> str:
        return str(self.http.base_url).rstrip("/")

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key.api_key}"}

    async def create(self, **extra: str) -> str:
        reply = await self.http.post(TEXT2VIDEO, json={**BODY, **extra}, headers=self.headers)
        assert reply.status_code == 200, reply.text
        task_id: str = reply.json()["data"]["task_id"]
        return task_id

    async def query(self, ref: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.http.get(f"{TEXT2VIDEO}/{ref}", headers=headers or self.headers)

    async def move(self, task_id: str, to_status: str, *, from_status: str, **values: object) -> None:
        moved = await self.gateway.tasks.transition(
            task_id, from_statuses=[from_status], to_status=to_status, now=now_ms(), **values
        )  # type: ignore[arg-type]
        assert moved


@pytest_asyncio.fixture(loop_scope="module")
async def rig(app_gateway: InProcessGateway) -> Rig:
    """The module's app with an account of this test's own."""
    return Rig(app_gateway, await app_gateway.create_account("perf"))


class FakeClock:
    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def time(self) -> float:
        return time.time() + self.offset


# ---- the authenticated-key cache ---------------------------------------------------------------


async def test_key_revoked_in_another_process_is_refused_after_the_cache_bound(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(auth, "time", SimpleNamespace(monotonic=clock.monotonic, time=clock.time))
    jwt_header = f"Bearer {mint_jwt(rig.key.access_key, rig.key.secret_key, ttl=3600)}"
    api_header = rig.headers["Authorization"]
    assert (await rig.gateway.auth.authenticate(api_header)).id == rig.key.account_id
    assert (await rig.gateway.auth.authenticate(jwt_header)).id == rig.key.account_id

    other = Gateway(rig.gateway.settings, run_workers=False)  # a second process on the same store
    try:
        assert await other.accounts.revoke(rig.key.account_id, now_ms())
    finally:
        await other.db.dispose()

    clock.offset = auth.CACHE_SECONDS + 0.01
    for header, says in ((api_header, "revoked API key"), (jwt_header, "revoked access key")):
        with pytest.raises(KlingError) as refused:
            await rig.gateway.auth.authenticate(header)
        assert says in refused.value.message
    reply = await rig.query("123456789012345678")
    assert reply.status_code == 401 and "revoked" in reply.json()["message"]


async def test_cache_bound_cannot_be_raised(rig: Rig) -> None:
    with pytest.raises(ValueError, match="cache_seconds"):
        auth.Authenticator(rig.gateway.accounts, rig.gateway.box, cache_seconds=5)


# ---- finished task answers ---------------------------------------------------------------------


async def test_answer_is_never_kept_before_the_task_is_terminal(rig: Rig) -> None:
    task_id = await rig.create()
    answers = rig.answers
    first = await rig.query(task_id)
    assert first.json()["data"]["task_status"] == "submitted"
    assert answers.cached(rig.key.account_id, "videos/text2video", task_id, rig.base) is None

    await rig.move(task_id, "processing", from_status="submitted")
    assert (await rig.query(task_id)).json()["data"]["task_status"] == "processing"

    result = {"videos": [{"id": "v1", "url": f"storage:{task_id}/a1/video.mp4", "duration": "5.0"}]}
    await rig.move(task_id, "succeed", from_status="processing", result=result)
    done = await rig.query(task_id)
    data = done.json()["data"]
    assert data["task_status"] == "succeed"
    assert done.headers["etag"] == f'W/"succeed-{data["updated_at"]}"'
    assert answers.cached(rig.key.account_id, "videos/text2video", task_id, rig.base) is not None

    # the answer is now served from memory: a row change behind the gateway's back is not read
    # (a terminal task never changes; this only proves no store read happens)
    async with rig.gateway.db.write.begin() as conn:
        await conn.execute(update(tasks).where(tasks.c.id == task_id).values(status_msg="changed behind"))
    again = await rig.query(task_id)
    assert again.json()["data"] == data
    assert again.json()["request_id"] != done.json()["request_id"]
    assert again.json()["request_id"] == again.headers["x-request-id"]


async def test_cached_answer_is_found_by_external_id_within_the_account_only(rig: Rig) -> None:
    task_id = await rig.create(external_task_id="ext-perf-1")
    await rig.move(task_id, "failed", from_status="submitted", status_msg="boom")
    by_ext = await rig.query("ext-perf-1")
    assert by_ext.json()["data"]["task_id"] == task_id
    assert (await rig.query("ext-perf-1")).json()["data"]["task_status_msg"] == "boom"

    stranger = await rig.running.create_account("stranger")
    for ref in (task_id, "ext-perf-1"):
        reply = await rig.query(ref, {"Authorization": f"Bearer {stranger.api_key}"})
        assert reply.status_code == 404, reply.text
        assert reply.json()["code"] == 1203
    wrong_family = await rig.http.get(f"/kling/v1/videos/image2video/{task_id}", headers=rig.headers)
    assert wrong_family.status_code == 404


async def test_signed_url_in_a_cached_answer_is_valid_and_lives_the_ttl(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = await rig.create()
    result = {"videos": [{"id": "v1", "url": f"storage:{task_id}/a1/video.mp4", "duration": "5.0"}]}
    await rig.move(task_id, "succeed", from_status="submitted", result=result)
    ttl = rig.gateway.settings.url_ttl_seconds
    secret = rig.gateway.settings.secret()

    def url_of(reply: httpx.Response) -> tuple[str, int, str]:
        url = urlsplit(reply.json()["data"]["task_result"]["videos"][0]["url"])
        query = parse_qs(url.query)
        assert url.path == f"/files/{task_id}/a1/video.mp4"
        return url.path.removeprefix("/files/"), int(query["expires"][0]), query["signature"][0]

    await rig.query(task_id)
    key, expires, signature = url_of(await rig.query(task_id))  # served from memory
    signing.verify(key, expires, signature, secret)
    assert expires - time.time() >= ttl

    # a quarter TTL later the bucket moves: the answer is rebuilt with a later expiry, never
    # served with a URL that would live less than the TTL
    clock = FakeClock()
    clock.offset = ttl / 4 + 1
    monkeypatch.setattr(signing, "time", SimpleNamespace(time=clock.time))
    _, later, later_signature = url_of(await rig.query(task_id))
    assert later > expires and later - clock.time() >= ttl
    signing.verify(key, later, later_signature, secret, now=clock.time())


# ---- list pages --------------------------------------------------------------------------------


async def test_list_pages_are_newest_first_across_pages(rig: Rig) -> None:
    created = [await rig.create() for _ in range(7)]
    await rig.move(created[2], "succeed", from_status="submitted")
    pages = []
    for page in (1, 2, 3):
        reply = await rig.http.get(TEXT2VIDEO, params={"pageNum": page, "pageSize": 3}, headers=rig.headers)
        assert reply.status_code == 200, reply.text
        pages.append([t["task_id"] for t in reply.json()["data"]])
    assert pages == [created[::-1][0:3], created[::-1][3:6], created[::-1][6:]]
    statuses = {
        t["task_id"]: t["task_status"]
        for t in (await rig.http.get(TEXT2VIDEO, params={"pageSize": 10}, headers=rig.headers)).json()["data"]
    }
    assert statuses[created[2]] == "succeed" and statuses[created[0]] == "submitted"


async def test_list_splices_kept_answers_and_reads_tasks_still_changing(rig: Rig) -> None:
    """A list page takes a finished task's kept answer (the bytes a query serves) and reads every
    other task now: a task that moves is listed in its new status, never a stale one."""
    finished, running = await rig.create(), await rig.create()
    result = {"videos": [{"id": "v1", "url": f"storage:{finished}/a1/video.mp4", "duration": "5.0"}]}
    await rig.move(finished, "succeed", from_status="submitted", result=result)
    queried = (await rig.query(finished)).json()["data"]  # now kept
    assert rig.answers.cached(rig.key.account_id, "videos/text2video", finished, rig.base) is not None

    async def listed() -> dict[str, dict[str, object]]:
        reply = await rig.http.get(TEXT2VIDEO, params={"pageSize": 2}, headers=rig.headers)
        assert reply.status_code == 200, reply.text
        return {t["task_id"]: t for t in reply.json()["data"]}

    first = await listed()
    assert list(first) == [running, finished]
    assert first[finished] == queried
    assert first[running]["task_status"] == "submitted"

    # behind the gateway's back: the kept answer is what a query of the finished task serves, and
    # the running task's row is read on every page
    async with rig.gateway.db.write.begin() as conn:
        await conn.execute(update(tasks).where(tasks.c.id == finished).values(status_msg="changed behind"))
    await rig.move(running, "processing", from_status="submitted")
    second = await listed()
    assert second[finished] == queried
    assert second[running]["task_status"] == "processing"
    await rig.move(running, "failed", from_status="processing", status_msg="boom")
    third = await listed()
    assert third[running]["task_status"] == "failed" and third[running]["task_status_msg"] == "boom"


async def test_deep_pages_through_anchors_are_the_offset_query_after_inserts_and_withdrawals(
    rig: Rig,
) -> None:
    """Pages read through anchors (where earlier pages started) equal ``LIMIT/OFFSET`` on the
    list index, ties on created_at included; a task inserted here or through another process's
    store, or withdrawn, moves every offset, and the next pages still equal the OFFSET query."""
    created = [await rig.create() for _ in range(11)]
    async with rig.gateway.db.write.begin() as conn:  # ties: ordered by id among equal created_at
        for n, task_id in enumerate(created):
            await conn.execute(update(tasks).where(tasks.c.id == task_id).values(created_at=1_000 + n // 3))
    account, family = rig.key.account_id, "videos/text2video"

    async def offset_query(page: int) -> list[str]:
        query = (
            select(tasks.c.id)
            .where(tasks.c.account_id == account, tasks.c.family == family)
            .order_by(tasks.c.created_at.desc(), tasks.c.id.desc())
            .limit(2)
            .offset((page - 1) * 2)
        )
        async with rig.gateway.db.read.connect() as conn:
            return [r[0] for r in (await conn.execute(query)).all()]

    async def listed(page: int) -> list[str]:
        reply = await rig.http.get(TEXT2VIDEO, params={"pageNum": page, "pageSize": 2}, headers=rig.headers)
        assert reply.status_code == 200, reply.text
        return [t["task_id"] for t in reply.json()["data"]]

    async def pages_match() -> None:
        for page in (6, 3, 5, 4, 2, 7):  # a page past the end too
            assert await listed(page) == await offset_query(page), page

    await pages_match()
    anchored = rig.gateway.tasks.anchors.nearest(account, family, 9)
    assert anchored is not None and anchored.offset == 8  # page 5's start
    await pages_match()  # now through the anchors

    newest = await rig.create()
    assert (await listed(5))[0] != anchored.key[1]  # the offsets moved by one
    await pages_match()

    other_process = TaskStore(rig.gateway.db)  # another gateway on the store: its own anchors
    row = await rig.gateway.tasks.get(newest)
    assert row is not None
    await other_process.insert(replace(row, id=new_numeric_id(), created_at=1_001), runnable=False)
    await pages_match()

    assert await rig.gateway.tasks.withdraw(created[10], now_ms())  # near the head: the anchors move
    await pages_match()


# ---- the new standard's GET /tasks ---------------------------------------------------------------


async def test_tasks_by_ids_splice_kept_records_and_read_the_others(rig: Rig) -> None:
    """``GET /tasks?task_ids=``: a finished task's record is kept and spliced in (for its own
    account only); a task still changing is read on every call, never served stale."""
    finished, running = await rig.create(), await rig.create()
    result = {"videos": [{"id": "v1", "url": f"storage:{finished}/a1/video.mp4", "duration": "5.0"}]}
    await rig.move(finished, "succeed", from_status="submitted", result=result)
    records = rig.running.app.services.records

    async def asked(headers: dict[str, str]) -> list[dict[str, object]]:
        ids = f"{finished},{running},123456789012345678"
        reply = await rig.http.get("/tasks", params={"task_ids": ids}, headers=headers)
        assert reply.status_code == 200, reply.text
        data: list[dict[str, object]] = reply.json()["data"]
        return data

    first = await asked(rig.headers)
    assert [r["id"] for r in first] == [finished, running]  # asked order, the unknown id left out
    assert first[0]["status"] == "succeeded" and first[0]["outputs"]
    assert first[1]["status"] == "submitted"
    assert records.cached(rig.key.account_id, "", finished, rig.base) is not None
    assert records.cached(rig.key.account_id, "", running, rig.base) is None

    async with rig.gateway.db.write.begin() as conn:
        await conn.execute(update(tasks).where(tasks.c.id == finished).values(status_msg="changed behind"))
    await rig.move(running, "processing", from_status="submitted")
    second = await asked(rig.headers)
    assert second[0] == first[0]  # the kept record: no read of the finished task's row
    assert second[1]["status"] == "processing"

    stranger = await rig.running.create_account("stranger-tasks")
    assert await asked({"Authorization": f"Bearer {stranger.api_key}"}) == []
