"""The relay against an upstream that misbehaves on purpose: a real Starlette/uvicorn server on
loopback speaking Kling's wire format, with switchable faults (429/1303 bursts, 5xx, hangs,
malformed bodies, rejections, failing and never-ending tasks, callbacks that beat the create
reply). Asserts: no task lost, none created twice on one upstream, none left non-terminal."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kling_gateway.media.probe import probe_image
from support import Account, GatewayProcess, free_port, png_bytes, wait_for_task

AK, SK = "fake-access-key", "fake-secret-key-0123456789abcdef"
PATH = "/v1/images/generations"


def envelope(data: Any) -> JSONResponse:
    return JSONResponse({"code": 0, "message": "SUCCEED", "request_id": str(uuid.uuid4()), "data": data})


def error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"code": code, "message": message, "request_id": str(uuid.uuid4())}, status_code=status
    )


@dataclass
class FakeUpstream:
    """Modes: ok, down (500/5000), hang (no answer for 3 s), malformed, busy (429/1303 for the next
    ``busy_left`` creates). Prompt markers: [reject] 1201, [fail] upstream failure, [never] stays
    processing, [early] callback sent before the create reply. The list query honours
    ``pageNum`` and at most ``page_cap`` tasks a page."""

    port: int = field(default_factory=free_port)
    mode: str = "ok"
    busy_left: int = 0
    done_after: float = 0.4
    callbacks: bool = True
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    create_calls: int = 0
    external_ids: list[str] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)
    single_calls: int = 0
    list_calls: int = 0
    page_cap: int = 500  # the largest pageSize the list query honours
    pages: list[int] = field(default_factory=list)  # pageNum of every list call
    max_active: int = 0
    server: uvicorn.Server | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---- wire --------------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        try:
            claims = jwt.decode(token, SK, algorithms=["HS256"])
        except jwt.PyJWTError:
            return False
        return claims.get("iss") == AK

    def _view(self, task: dict[str, Any]) -> dict[str, Any]:
        age = time.monotonic() - task["t0"]
        status = task["status"]
        if status == "auto":
            status = "succeed" if age >= self.done_after else ("processing" if age >= 0.1 else "submitted")
        if status == "fail" and age >= self.done_after:
            status = "failed"
        elif status == "fail":
            status = "processing"
        if status == "never":
            status = "processing"
        view = {
            "task_id": task["id"],
            "task_status": status,
            "task_status_msg": "",
            "task_info": {"external_task_id": task["ext"]},
            "task_result": {},
            "created_at": task["created_ms"],
            "updated_at": task["created_ms"] + int(self.done_after * 1000),
        }
        if status == "failed":
            view["task_status_msg"] = "content risk control: image flagged"
        if status == "succeed":
            view["final_unit_deduction"] = "1"
            view["task_result"] = {"images": [{"index": 0, "url": f"{self.base_url}/files/{task['id']}.png"}]}
        return view

    def active(self) -> int:
        return sum(
            1 for t in self.tasks.values() if self._view(t)["task_status"] in ("submitted", "processing")
        )

    async def create(self, request: Request) -> Response:
        if not self._authorized(request):
            return error(401, 1002, "token invalid")
        if self.mode == "down":
            return error(500, 5000, "internal server error")
        if self.mode == "hang":
            await asyncio.sleep(3)
            return error(504, 5002, "too late")
        if self.mode == "malformed":
            return Response(b'{"code": 0, "data": {"task_id": ', media_type="application/json")
        if self.busy_left > 0:
            self.busy_left -= 1
            return error(429, 1303, "parallel task over resource pack limit")
        body = await request.json()
        prompt = body.get("prompt", "")
        if "[reject]" in prompt:
            return error(400, 1201, "prompt: contains a forbidden word")
        self.create_calls += 1
        self.prompts.append(prompt)
        self.external_ids.append(body.get("external_task_id"))
        task_id = str(10**17 + len(self.tasks) + 1)
        status = "fail" if "[fail]" in prompt else "never" if "[never]" in prompt else "auto"
        task = {
            "id": task_id,
            "ext": body.get("external_task_id"),
            "status": status,
            "t0": time.monotonic(),
            "created_ms": int(time.time() * 1000),
            "callback": body.get("callback_url"),
        }
        if "[early]" in prompt:
            task["t0"] -= 10  # already done
        self.tasks[task_id] = task
        self.max_active = max(self.max_active, self.active())
        if "[early]" in prompt and task["callback"]:
            async with httpx.AsyncClient() as client:  # the callback beats the create reply
                await client.post(task["callback"], json=self._view(task))
        elif self.callbacks and task["callback"] and status != "never":
            asyncio.get_running_loop().create_task(self._call_back(task))
        view = self._view(task)
        return envelope(
            {k: view[k] for k in ("task_id", "task_status", "task_info", "created_at", "updated_at")}
        )

    async def _call_back(self, task: dict[str, Any]) -> None:
        await asyncio.sleep(self.done_after + 0.05)
        async with httpx.AsyncClient() as client:
            await client.post(task["callback"], json=self._view(task))

    async def get_one(self, request: Request) -> Response:
        if not self._authorized(request):
            return error(401, 1002, "token invalid")
        self.single_calls += 1
        key = request.path_params["task_id"]
        for task in self.tasks.values():
            if key in (task["id"], task["ext"]):
                return envelope(self._view(task))
        return error(404, 1203, "task not found")

    async def list_tasks(self, request: Request) -> Response:
        if not self._authorized(request):
            return error(401, 1002, "token invalid")
        self.list_calls += 1
        size = min(self.page_cap, int(request.query_params.get("pageSize", 30)))
        page = int(request.query_params.get("pageNum", 1))
        self.pages.append(page)
        newest = sorted(self.tasks.values(), key=lambda t: -int(t["id"]))
        return envelope([self._view(t) for t in newest[(page - 1) * size : page * size]])

    async def file(self, request: Request) -> Response:
        return Response(png_bytes(320, 240), media_type="image/png")

    # ---- life cycle --------------------------------------------------------------------

    def start(self) -> FakeUpstream:
        app = Starlette(
            routes=[
                Route(PATH, self.create, methods=["POST"]),
                Route(PATH, self.list_tasks, methods=["GET"]),
                Route(PATH + "/{task_id}", self.get_one, methods=["GET"]),
                Route("/files/{name}", self.file, methods=["GET"]),
            ]
        )
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        threading.Thread(target=self.server.run, daemon=True).start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "fake upstream did not start"
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True

    def assert_no_duplicates(self) -> None:
        assert len(self.external_ids) == len(set(self.external_ids)), self.external_ids


def channel(name: str, upstream: FakeUpstream, **extra: Any) -> str:
    lines = [
        f'[[channels]]\nname = "{name}"\ntype = "kling"\nbase_url = "{upstream.base_url}"',
        f'access_key = "{AK}"\nsecret_key = "{SK}"',
        "request_timeout = 0.7",
        f"timeout = {extra.pop('timeout', 4)}",
        "poll = { initial = 0.1, factor = 0.2, max_interval = 0.5, callback_slowdown = 1.0, batch_window = 0.2 }",
    ]
    for key, value in extra.items():
        lines.append(f"{key} = {value!r}".replace("'", '"').replace("True", "true").replace("False", "false"))
    return "\n".join(lines) + "\n"


def start_front(tmp: Path, tables: list[str]) -> tuple[GatewayProcess, Account]:
    config = tmp / "relay.toml"
    config.write_text(
        "[gateway]\nsweep_interval_seconds = 1\ntask_timeout_seconds = 30\npoll_interval_seconds = 0.2\n"
        + "\n".join(tables)
    )
    server = GatewayProcess(tmp, extra_args=["--config", str(config)]).start()
    return server, server.create_account("client")


def create(http: httpx.Client, account: Account, prompt: str) -> str:
    response = http.post(PATH, json={"prompt": prompt}, headers=account.bearer)
    assert response.status_code == 200, response.text
    return response.json()["data"]["task_id"]


@pytest.fixture()
def pair(tmp_path: Path) -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    first, second = FakeUpstream().start(), FakeUpstream().start()
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


def test_failover_rejections_failures_and_limits(
    pair: tuple[FakeUpstream, FakeUpstream], tmp_path: Path
) -> None:
    primary, backup = pair
    front, account = start_front(
        tmp_path,
        [
            channel(
                "primary", primary, priority=10, breaker_threshold=2, breaker_cooldown=0.3, busy_backoff=0.3
            ),
            channel("backup", backup, priority=0),
        ],
    )
    try:
        with httpx.Client(base_url=front.base_url, timeout=30) as http:
            outcomes: dict[str, str] = {}  # faults met one at a time
            for mode in ("down", "down", "down", "hang", "malformed", "busy"):
                primary.mode = "ok" if mode == "busy" else mode
                primary.busy_left = 5 if mode == "busy" else 0
                time.sleep(0.35)  # let the breaker half-open so the fault is actually met
                tid = create(http, account, f"{mode} case")
                outcomes[tid] = wait_for_task(http, PATH, tid, account.bearer, timeout=30)["task_status"]
            primary.mode, primary.busy_left = "ok", 0
            time.sleep(0.35)
            healthy = create(http, account, "healthy again")
            rejected = create(http, account, "a [reject] prompt")
            failed = create(http, account, "a [fail] prompt")
            endless = create(http, account, "a [never] prompt")
            early = create(http, account, "an [early] prompt")
            results = {
                tid: wait_for_task(http, PATH, tid, account.bearer, timeout=30)
                for tid in [*outcomes, healthy, rejected, failed, endless, early]
            }
        assert set(outcomes.values()) == {"succeed"}, outcomes
        for tid in outcomes:
            assert results[tid]["task_status"] == "succeed", results[tid]
            image = results[tid]["task_result"]["images"][0]["url"]
            assert image.startswith(front.base_url)
            assert probe_image(httpx.get(image).content).width == 320
        assert results[healthy]["task_status"] == "succeed"
        assert results[rejected]["task_status"] == "failed"
        assert (
            results[rejected]["task_status_msg"] == "upstream error 1201: prompt: contains a forbidden word"
        )
        assert results[failed]["task_status"] == "failed"
        assert results[failed]["task_status_msg"] == "content risk control: image flagged"
        assert results[endless]["task_status"] == "failed"
        assert "within 4 s" in results[endless]["task_status_msg"]
        assert results[early]["task_status"] == "succeed"
        # the gateway's own charge (kling-v1 image: 8 units), not the upstream's "1" (kept in the ledger)
        assert results[early]["final_unit_deduction"] == "8"
        # the six faulty rounds all landed on the backup; the rest on the recovered primary
        assert backup.create_calls == 6 and primary.create_calls == 4, (
            backup.prompts,
            primary.prompts,
            front.log(),
        )
        primary.assert_no_duplicates()
        backup.assert_no_duplicates()
        assert not any("[reject]" in str(e) for e in backup.external_ids)
        metrics = httpx.get(front.base_url + "/metrics").text
        assert 'kling_relay_failovers_total{channel="primary",reason="down"}' in metrics
        assert 'kling_relay_failovers_total{channel="primary",reason="busy"}' in metrics
        assert 'kling_relay_callbacks_total{channel="primary",status="succeed"}' in metrics
    finally:
        front.stop()


def test_concurrency_queue_busy_bursts_and_batched_polling(tmp_path: Path) -> None:
    upstream = FakeUpstream(callbacks=False, busy_left=3, done_after=0.5).start()
    front, account = start_front(
        tmp_path,
        [
            channel("only", upstream, max_concurrent=2, busy_backoff=0.2, queue_recheck=0.2, callbacks=False),
        ],
    )
    try:
        with httpx.Client(base_url=front.base_url, timeout=30) as http:
            burst = create(http, account, "meets a 1303 burst")  # one channel: the task waits, then goes out
            assert wait_for_task(http, PATH, burst, account.bearer, timeout=30)["task_status"] == "succeed"
            assert upstream.busy_left == 0 and upstream.create_calls == 1
            ids = [create(http, account, f"queued {i}") for i in range(6)]
            results = [wait_for_task(http, PATH, tid, account.bearer, timeout=40) for tid in ids]
        assert [r["task_status"] for r in results] == ["succeed"] * 6, results
        assert upstream.create_calls == 7
        upstream.assert_no_duplicates()
        assert upstream.max_active <= 2  # never more than max_concurrent at the upstream
        sent = upstream.external_ids[1:]
        assert sorted(sent) == sorted(f"kg-{tid}" for tid in ids)
        for position, tid in enumerate(ids):  # creation order, up to swaps inside one free window
            assert sent.index(f"kg-{tid}") <= position + 1, (ids, sent)
        assert upstream.list_calls > 0  # several tasks tracked: status checks batched via list queries
    finally:
        front.stop()
        upstream.stop()


def test_full_relay_queue_1303_and_list_sweeps_past_the_first_page(tmp_path: Path) -> None:
    """Default-model tasks meet a full queue (1303 at create). ``kling-v1-5`` tasks go to a
    second upstream whose list pages hold 3 tasks: with 10 tracked, one sweep reads pages 1–4, so
    every task learns its end from the list (single queries at most before the first sweep)."""
    # The first upstream holds its tasks until the refusals are checked: on a loaded machine the
    # six creates can take longer than a task, and a finished one would free a slot mid-burst.
    upstream = FakeUpstream(callbacks=False, done_after=3600).start()
    paged = FakeUpstream(callbacks=False, done_after=1.5, page_cap=3).start()
    front, account = start_front(
        tmp_path,
        [
            channel(
                "only",
                upstream,
                max_concurrent=1,
                max_queue=2,
                queue_recheck=0.2,
                callbacks=False,
                timeout=60,
            ),
            channel("paged", paged, models=["kling-v1-5"], priority=10, callbacks=False),
        ],
    )
    try:
        with httpx.Client(base_url=front.base_url, timeout=30) as http:
            answers = [http.post(PATH, json={"prompt": f"q{i}"}, headers=account.bearer) for i in range(6)]
            accepted = [a.json()["data"]["task_id"] for a in answers if a.status_code == 200]
            refused = [a for a in answers if a.status_code != 200]
            assert 2 <= len(accepted) <= 3 and len(refused) == 6 - len(accepted)
            for answer in refused:
                assert answer.status_code == 429 and answer.json()["code"] == 1303
                assert "max_queue 2" in answer.json()["message"]
            listed = http.get(PATH, params={"pageSize": 50}, headers=account.bearer).json()["data"]
            assert sorted(t["task_id"] for t in listed) == sorted(accepted)  # refusals created nothing
            upstream.done_after = 0.8  # now let them finish
            swept = []
            for i in range(10):
                body = {"prompt": f"paged {i}", "model_name": "kling-v1-5"}
                response = http.post(PATH, json=body, headers=account.bearer)
                assert response.status_code == 200, response.text
                swept.append(response.json()["data"]["task_id"])
            results = [wait_for_task(http, PATH, tid, account.bearer, timeout=40) for tid in accepted]
            paged_results = [wait_for_task(http, PATH, tid, account.bearer, timeout=30) for tid in swept]
        assert [r["task_status"] for r in results] == ["succeed"] * len(accepted)
        assert upstream.create_calls == len(accepted)
        assert [r["task_status"] for r in paged_results] == ["succeed"] * 10, paged_results
        assert paged.create_calls == 10
        assert max(paged.pages) >= 4  # the oldest tasks are on page 4
        assert paged.single_calls <= 2, paged.single_calls  # at most the lone first task
        assert paged.list_calls < 10 * 8  # pages shared by all tasks, not a page per check
    finally:
        front.stop()
        upstream.stop()
        paged.stop()
