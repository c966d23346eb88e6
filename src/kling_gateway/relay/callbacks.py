"""Upstream callbacks: the URL the gateway hands each upstream, and the route that receives it.

The client's ``callback_url`` is never forwarded (it belongs to the client, and would leak the
upstream's ids and URLs). Instead each relayed task carries
``<base>/relay/callback/<gateway task id>/<token>`` where the token is an HMAC of the task id
with the gateway secret: only the upstream that was given the URL can post to it, and a token
never opens another task. A verified callback is kept in the process's :class:`Inbox` and the
task is made runnable at once; its worker uses the body instead of asking the upstream again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from ..ids import new_request_id, now_ms
from . import metrics
from .store import RelayStore

if TYPE_CHECKING:
    from ..gateway import Gateway
    from .engine import RelayCore

log = logging.getLogger("kling_gateway.relay")
CALLBACK_PATH = "/relay/callback"
MAX_CALLBACK_BYTES = 1 << 20


def callback_token(secret: str, task_id: str) -> str:
    return hmac.new(secret.encode(), b"relay-callback:" + task_id.encode(), hashlib.sha256).hexdigest()[:32]


def callback_url(base_url: str, secret: str, task_id: str) -> str:
    return f"{base_url.rstrip('/')}{CALLBACK_PATH}/{task_id}/{callback_token(secret, task_id)}"


class Inbox:
    """The latest verified callback body per gateway task id (bounded; this process only)."""

    def __init__(self, max_items: int = 100_000):
        self.max_items = max_items
        self._items: dict[str, tuple[dict[str, Any], int]] = {}

    def put(self, task_id: str, body: dict[str, Any]) -> None:
        if len(self._items) >= self.max_items:
            self._items.pop(next(iter(self._items)))
        previous = self._items.get(task_id)
        if previous is not None and _rank(previous[0]) > _rank(body):
            return  # a late "processing" never hides a "succeed" that came first
        self._items[task_id] = (body, now_ms())

    def take(self, task_id: str) -> tuple[dict[str, Any], int] | None:
        return self._items.pop(task_id, None)

    def peek(self, task_id: str) -> dict[str, Any] | None:
        item = self._items.get(task_id)
        return item[0] if item else None


_RANKS = {"submitted": 0, "processing": 1, "succeed": 2, "failed": 2}


def _rank(body: dict[str, Any]) -> int:
    return _RANKS.get(str(body.get("task_status")), -1)


def _ok() -> JSONResponse:
    return JSONResponse({"code": 0, "message": "SUCCEED", "request_id": new_request_id()})


def _core_of(gateway: Gateway) -> RelayCore | None:
    for name in gateway.router.names:
        core = getattr(gateway.router.get(name), "core", None)
        if core is not None:
            return core  # type: ignore[no-any-return]
    return None


def build_router() -> APIRouter:
    router = APIRouter(tags=["relay"])

    @router.post(f"{CALLBACK_PATH}/{{task_id}}/{{token}}", include_in_schema=False)
    async def relay_callback(request: Request, task_id: str, token: str) -> JSONResponse:
        gateway: Gateway = request.app.state.gateway
        expected = callback_token(gateway.settings.secret(), task_id)
        if not hmac.compare_digest(expected, token):
            return JSONResponse(
                {"code": 1000, "message": "bad callback token", "request_id": new_request_id()},
                status_code=401,
            )
        raw = await request.body()
        try:
            body = json.loads(raw) if len(raw) <= MAX_CALLBACK_BYTES else None
        except (ValueError, UnicodeDecodeError):
            body = None
        if isinstance(body, dict) and isinstance(body.get("data"), dict) and "task_status" not in body:
            body = body["data"]  # tolerate the wrapped form some gateways send
        if not isinstance(body, dict) or not isinstance(body.get("task_status"), str):
            return JSONResponse(
                {
                    "code": 1200,
                    "message": "callback body is not a task object",
                    "request_id": new_request_id(),
                },
                status_code=400,
            )
        row = await gateway.tasks.get(task_id)
        if row is None:
            return _ok()  # nothing to do; answer 2xx so the upstream stops retrying
        metrics.CALLBACKS.labels(row.engine or "", body["task_status"]).inc()
        if row.status not in ("submitted", "processing"):
            return _ok()
        known = row.upstream_task_id
        if known and known != "?" and str(body.get("task_id")) != known:
            log.warning(
                "callback for task %s names upstream task %s, expected %s",
                task_id,
                body.get("task_id"),
                known,
            )
            return _ok()
        core = _core_of(gateway)
        if core is not None:
            core.inbox.put(task_id, body)
        wake = getattr(gateway.dispatcher, "wake", None)
        if await RelayStore(gateway.tasks).runnable_now(task_id, now_ms()) and wake is not None:
            wake()
        return _ok()

    return router
