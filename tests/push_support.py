"""Helpers for the push tests: a real webhook receiver and input server on loopback.

:class:`Receiver` is a Starlette app under uvicorn in a thread of the test process:

* ``POST /hook/ok-…`` answers 200; ``/hook/flaky-…`` answers 500 to the first
  ``FLAKY_FAILURES`` requests of each ``webhook-id``, then 200; ``/hook/gone-…`` answers 410.
  Every request is recorded (arrival time, headers, body, answer).
* ``GET /hold/<key>.png`` holds the answer until the test calls :meth:`Receiver.release` (a PNG,
  or 404), so a gateway worker fetching it keeps its task in ``submitted`` as long as a test needs.

Also the helpers the push test modules share (held tasks, background requests, reading an event
stream). No tests here (the name does not start with ``test_``, so pytest does not collect it).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from support import Account, free_port, png_bytes

FLAKY_FAILURES = 2
PATH = "/v1/images/generations"
LONG_WAIT = 30


@dataclass(frozen=True)
class Received:
    at: float  # time.time()
    name: str
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


class Receiver:
    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}
        self._holds: dict[str, tuple[threading.Event, list[int]]] = {}
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # ---- URLs -----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hook(self, name: str) -> str:
        return f"{self.base_url}/hook/{name}"

    def hold_url(self, key: str) -> str:
        self._hold(key)
        return f"{self.base_url}/hold/{key}.png"

    # ---- behaviour ------------------------------------------------------------------------

    def _hold(self, key: str) -> tuple[threading.Event, list[int]]:
        with self._lock:
            return self._holds.setdefault(key, (threading.Event(), [200]))

    def release(self, key: str, status: int = 200) -> None:
        event, answer = self._hold(key)
        answer[0] = status
        event.set()

    def hits(self, name: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.name == name]

    async def _hook(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        webhook_id = headers.get("webhook-id", "")
        with self._lock:
            count = self._seen[webhook_id] = self._seen.get(webhook_id, 0) + 1
        if name.startswith("gone-"):
            status = 410
        elif name.startswith("flaky-") and count <= FLAKY_FAILURES:
            status = 500
        else:
            status = 200
        with self._lock:
            self.requests.append(Received(time.time(), name, headers, body, status))
        return Response(b"ok" if status == 200 else b"no", status_code=status)

    async def _held(self, request: Request) -> Response:
        event, answer = self._hold(request.path_params["key"])
        while not event.is_set():
            await asyncio.sleep(0.02)
        if answer[0] != 200:
            return Response(b"gone", status_code=answer[0])
        return Response(png_bytes(512, 512), media_type="image/png")

    # ---- life cycle -----------------------------------------------------------------------

    def start(self) -> Receiver:
        app = Starlette(
            routes=[
                Route("/hook/{name}", self._hook, methods=["POST"]),
                Route("/hold/{key}.png", self._held, methods=["GET"]),
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("webhook receiver did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        for event, _answer in list(self._holds.values()):
            event.set()
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
        self._server = self._thread = None


def push_stats(client: httpx.Client, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get("/push/stats", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def held_task(client: httpx.Client, acct: Account, receiver: Receiver) -> tuple[str, str]:
    key = uuid.uuid4().hex
    body = {"prompt": "a held task", "image": receiver.hold_url(key)}
    response = client.post(PATH, json=body, headers=acct.bearer)
    assert response.status_code == 200, response.text
    return response.json()["data"]["task_id"], key


def waiters(client: httpx.Client, acct: Account) -> int:
    return push_stats(client, acct.bearer)["hub"]["waiters"]


def in_background(fn: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # surfaced by the test
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def joined(thread: threading.Thread, out: dict[str, Any]) -> Any:
    thread.join(LONG_WAIT + 30)
    if "error" in out:
        raise out["error"]
    return out["value"]


def read_stream(
    client: httpx.Client,
    acct: Account,
    task_id: str,
    *,
    last_event_id: str | None = None,
    stop_after: int | None = None,
    on_open: Any = None,
) -> tuple[list[dict[str, Any]], int]:
    """Events (id, event, data) read from the stream, and the number of keep-alive comments."""
    headers = dict(acct.bearer)
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    events: list[dict[str, Any]] = []
    keepalives = 0
    current: dict[str, Any] = {}
    with client.stream("GET", f"{PATH}/{task_id}/events", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith(":"):
                keepalives += 1
                if on_open is not None and keepalives == 1:
                    on_open()
            elif line.startswith("id: "):
                current["id"] = int(line[4:])
            elif line.startswith("event: "):
                current["event"] = line[7:]
            elif line.startswith("data: "):
                current["data"] = json.loads(line[6:])
            elif line == "" and current:
                events.append(current)
                current = {}
                if stop_after is not None and len(events) >= stop_after:
                    break
    return events, keepalives
