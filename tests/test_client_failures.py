"""Failure paths against a small fake Kling upstream (a real Starlette app served by uvicorn on loopback).

The fake speaks Kling's envelope and records every request it sees, with its arrival time, so
retries and waits are asserted from the server's side.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from kling_gateway.auth import mint_jwt
from kling_gateway.client import (
    AsyncKlingClient,
    ClientValidationError,
    InvalidRequestError,
    KlingClient,
    NetworkError,
    PollPolicy,
    RetryPolicy,
    TaskFailedError,
    WaitTimeoutError,
)
from support import free_port

AK, SK = "ak-test", "sk-test-secret-that-is-long-enough-for-hs256"
FILE = os.urandom(700_000)
FAST_POLL = PollPolicy(long_poll=0, interval=0.05, max_interval=0.2)
FAST_RETRY = RetryPolicy(max_attempts=4, backoff_base=0.05, backoff_cap=0.2)


@dataclass
class Seen:
    method: str
    path: str
    at: float
    headers: dict[str, str]


@dataclass
class FakeKling:
    port: int = field(default_factory=free_port)
    seen: list[Seen] = field(default_factory=list)
    released: set[str] = field(default_factory=set)
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    def bump(self, key: str) -> int:
        self.counters[key] = self.counters.get(key, 0) + 1
        return self.counters[key]

    # ---- envelope helpers ----------------------------------------------------------------

    @staticmethod
    def ok(data: Any, request_id: str = "rid-ok") -> JSONResponse:
        return JSONResponse({"code": 0, "message": "SUCCEED", "request_id": request_id, "data": data})

    @staticmethod
    def err(code: int, message: str, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse(
            {"code": code, "message": message, "request_id": f"rid-{code}"},
            status_code=status,
            headers=headers,
        )

    def task(self, task_id: str, status: str, msg: str = "", result: dict[str, Any] | None = None) -> dict:
        return {
            "task_id": task_id,
            "task_status": status,
            "task_status_msg": msg,
            "task_info": {},
            "task_result": result or {},
            "created_at": 1722769557708,
            "updated_at": 1722769557708,
        }

    # ---- routes --------------------------------------------------------------------------

    async def record(self, request: Request) -> None:
        self.seen.append(Seen(request.method, request.url.path, time.monotonic(), dict(request.headers)))

    async def create(self, request: Request) -> Response:
        await self.record(request)
        action = request.path_params["action"]
        if action == "image2video":  # always a parameter error: must never be retried
            return self.err(1201, "image: is not a valid image", 400)
        if action == "generations" and self.bump("gen") == 1:  # rate limited once
            return self.err(1302, "requests too fast", 429, {"Retry-After": "1"})
        if action == "text-to-audio" and self.bump("t2a-5xx") == 1:
            return self.err(5001, "service temporarily unavailable", 503)
        body = await request.json()
        task_id = body.get("external_task_id") or "t-" + action
        return self.ok(
            {
                "task_id": task_id,
                "task_status": "submitted",
                "task_info": {},
                "created_at": 1722769557708,
                "updated_at": 1722769557708,
            }
        )

    async def query(self, request: Request) -> Response:
        await self.record(request)
        task_id = request.path_params["task_id"]
        if task_id.startswith("jwt-"):
            try:
                jwt.decode(request.headers["authorization"][7:], SK, algorithms=["HS256"])
            except jwt.ExpiredSignatureError:
                return self.err(1004, "token has expired", 401)
        if task_id.startswith("lp-"):  # honours Prefer (says so), finishing on the third query
            if self.bump(task_id) < 3:
                headers = {"Preference-Applied": "wait=5"} if "prefer" in request.headers else {}
                response = self.ok(self.task(task_id, "processing"))
                response.headers.update(headers)
                return response
        if task_id.startswith("fail-"):
            return self.ok(self.task(task_id, "failed", "content safety: the prompt was rejected"))
        if task_id.startswith("slow-") and task_id not in self.released:
            return self.ok(self.task(task_id, "processing"))
        url = f"{self.base_url}/files/{task_id}.mp4"
        return self.ok(
            self.task(task_id, "succeed", result={"videos": [{"id": "v1", "url": url, "duration": "5"}]})
        )

    async def file(self, request: Request) -> Response:
        await self.record(request)
        rng = request.headers.get("range")
        if rng:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            return Response(
                FILE[start:],
                status_code=206,
                headers={
                    "Content-Range": f"bytes {start}-{len(FILE) - 1}/{len(FILE)}",
                    "Accept-Ranges": "bytes",
                },
            )
        drop = self.bump("file") == 1

        async def body() -> AsyncIterator[bytes]:
            yield FILE[:300_000]
            if drop:  # the connection dies mid-file
                await asyncio.sleep(0.05)
                raise ConnectionResetError("dropped on purpose")
            yield FILE[300_000:]

        return StreamingResponse(
            body(),
            media_type="video/mp4",
            headers={"Content-Length": str(len(FILE)), "Accept-Ranges": "bytes"},
        )

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/{resource}/{action}", self.create, methods=["POST"]),
                Route("/v1/{resource}/{action}/{task_id}", self.query, methods=["GET"]),
                Route("/files/{name}", self.file, methods=["GET"]),
            ]
        )

    @contextmanager
    def running(self) -> Iterator[FakeKling]:
        server = uvicorn.Server(
            uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_level="critical", lifespan="off")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "fake upstream did not start"
            time.sleep(0.02)
        try:
            yield self
        finally:
            server.should_exit = True
            thread.join(10)


@pytest.fixture()
def fake() -> Iterator[FakeKling]:
    with FakeKling().running() as server:
        yield server


@pytest.fixture()
def kling(fake: FakeKling) -> Iterator[KlingClient]:
    with KlingClient(fake.base_url, api_key="k", poll=FAST_POLL, retry=FAST_RETRY) as client:
        yield client


def test_failed_task_raises_with_reason(kling: KlingClient) -> None:
    with pytest.raises(TaskFailedError) as info:
        kling.wait("fail-1", family="videos/text2video", timeout=5)
    assert info.value.task_id == "fail-1"
    assert info.value.task_status_msg == "content safety: the prompt was rejected"
    assert info.value.task.task_status == "failed"


def test_timeout_then_resume_with_the_id(kling: KlingClient, fake: FakeKling, tmp_path: Path) -> None:
    created = kling.text2video(prompt="slow one", external_task_id="slow-7")
    with pytest.raises(WaitTimeoutError) as info:
        kling.wait(created, timeout=0.6)
    assert info.value.task_id == "slow-7" and info.value.task.task_status == "processing"
    polls = fake.requests_to("/v1/videos/text2video/slow-7")
    assert 2 <= len(polls) <= 15  # backed off rather than spinning, since this server ignores Prefer
    fake.released.add("slow-7")
    fresh = KlingClient(fake.base_url, api_key="k", poll=FAST_POLL, retry=FAST_RETRY)
    with fresh:
        done = fresh.wait(info.value.task_id, family="videos/text2video", timeout=5)
    assert done.task_status == "succeed"


def test_long_poll_detected_by_preference_applied(fake: FakeKling) -> None:
    poll = PollPolicy(long_poll=5, interval=3, max_interval=3)
    with KlingClient(fake.base_url, api_key="k", poll=poll, retry=FAST_RETRY) as client:
        started = time.monotonic()
        assert client.wait("lp-1", family="videos/text2video", timeout=30).task_status == "succeed"
        elapsed = time.monotonic() - started
    polls = fake.requests_to("/v1/videos/text2video/lp-1")
    # the first query reports the current state at once; the next ones long-poll
    assert [p.headers.get("prefer") for p in polls] == [None, "wait=5", "wait=5"]
    assert elapsed < 2.5  # re-asked at once instead of sleeping the 3 s poll interval


def test_429_retry_after_is_honoured(kling: KlingClient, fake: FakeKling) -> None:
    created = kling.image_generation(prompt="a bird")
    assert created.task_id == "t-generations"
    first, second = fake.requests_to("/v1/images/generations")
    assert second.at - first.at >= 0.9  # Retry-After: 1, not the 0.05 s backoff


def test_5xx_is_retried_with_backoff(kling: KlingClient, fake: FakeKling) -> None:
    assert kling.text_to_audio(prompt="rain", duration=3).task_id == "t-text-to-audio"
    assert len(fake.requests_to("/v1/audio/text-to-audio")) == 2


def test_400_1201_is_never_retried(kling: KlingClient, fake: FakeKling) -> None:
    with pytest.raises(InvalidRequestError) as info:
        kling.image2video(image="https://example.com/x.png")
    assert (info.value.code, info.value.http_status, info.value.request_id) == (1201, 400, "rid-1201")
    assert len(fake.requests_to("/v1/videos/image2video")) == 1


def test_client_validation_sends_nothing(kling: KlingClient, fake: FakeKling) -> None:
    with pytest.raises(ClientValidationError):
        kling.text2video(prompt="x", duration="7")
    with pytest.raises(ClientValidationError):
        kling.image2video(prompt="no image")
    assert fake.seen == []


def test_expired_jwt_is_reminted_once(fake: FakeKling) -> None:
    with KlingClient(fake.base_url, access_key=AK, secret_key=SK, poll=FAST_POLL, retry=FAST_RETRY) as client:
        creds = client.core.credentials
        # A token the client still believes fresh but the server finds expired (clock skew, a
        # long-lived process): the server answers 1004 and the client must re-mint transparently.
        creds._token = mint_jwt(AK, SK, ttl=60, now=time.time() - 3600)  # type: ignore[attr-defined]
        creds._expires_at = time.time() + 3600  # type: ignore[attr-defined]
        task = client.get_task("videos/text2video", "jwt-1")
    assert task.task_status == "succeed"
    first, second = fake.requests_to("/v1/videos/text2video/jwt-1")
    assert first.headers["authorization"] != second.headers["authorization"]
    claims = jwt.decode(second.headers["authorization"][7:], SK, algorithms=["HS256"])
    assert claims["iss"] == AK and claims["exp"] - claims["nbf"] == 1805


def test_download_resumes_with_range(kling: KlingClient, fake: FakeKling, tmp_path: Path) -> None:
    (path,) = kling.download("dl-1", tmp_path, family="videos/text2video")
    assert path.read_bytes() == FILE
    gets = fake.requests_to("/files/dl-1.mp4")
    assert len(gets) == 2 and "range" not in gets[0].headers
    offset = int(gets[1].headers["range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < offset < len(FILE)
    assert not list(tmp_path.glob("*.part"))


async def test_async_paths(fake: FakeKling, tmp_path: Path) -> None:
    async with AsyncKlingClient(fake.base_url, api_key="k", poll=FAST_POLL, retry=FAST_RETRY) as client:
        with pytest.raises(TaskFailedError):
            await client.wait("fail-2", family="videos/text2video", timeout=5)
        (path,) = await client.download("dl-2", tmp_path, family="videos/text2video")
        assert path.read_bytes() == FILE
        assert len(fake.requests_to("/files/dl-2.mp4")) == 2


def test_unreachable_server_is_a_network_error() -> None:
    with KlingClient(f"http://127.0.0.1:{free_port()}", api_key="k", retry=FAST_RETRY) as client:
        with pytest.raises(NetworkError, match="after 4 attempts"):
            client.get_task("videos/text2video", "x")


def _cli(fake_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KLING_BASE_URL": fake_url, "KLING_API_KEY": "k"}
    return subprocess.run(
        [sys.executable, "-m", "kling_gateway", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_cli_exit_codes_for_failure_and_timeout(fake: FakeKling) -> None:
    out = _cli(fake.base_url, "task", "wait", "videos/text2video", "fail-3")
    assert out.returncode == 4, out.stderr
    assert "content safety" in out.stderr
    out = _cli(fake.base_url, "task", "wait", "videos/text2video", "slow-9", "--timeout", "1", "--json")
    assert out.returncode == 5, out.stderr
    assert '"task_id": "slow-9"' in out.stdout and "task wait" in out.stderr
    out = _cli(fake.base_url, "submit", "videos/image2video", "--image", "https://example.com/a.png")
    assert out.returncode == 6, out.stderr
    out = _cli(f"http://127.0.0.1:{free_port()}", "task", "get", "videos/text2video", "x")
    assert out.returncode == 7, out.stderr
