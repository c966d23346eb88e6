"""``POST /relay/callback/{task_id}/{token}``: where upstreams report on relayed tasks.

The route only reads the request; what a callback means is the relay's business
(:class:`~kling_gateway.engines.relay.callbacks.CallbackReceiver`). Errors leave in the Kling
envelope like every other answer; a callback for an unknown or finished task is answered 2xx so
the upstream stops retrying.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..engines.relay import standard2
from ..engines.relay.callbacks import CALLBACK_PATH
from ..errors import Code, KlingError
from . import envelope
from .deps import services_of
from .middleware import request_id_of

MAX_CALLBACK_BYTES = 1 << 20


def _task_object(raw: bytes) -> dict[str, Any]:
    """The task object of a callback body (the wrapped ``{"data": {...}}`` form tolerated)."""
    try:
        body = json.loads(raw) if len(raw) <= MAX_CALLBACK_BYTES else None
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("data"), dict) and "task_status" not in body:
        body = body["data"]
    if isinstance(body, dict) and standard2.is_record(body):  # a new-standard upstream (§6)
        body = standard2.task_object(body)
    if not isinstance(body, dict) or not isinstance(body.get("task_status"), str):
        raise KlingError(Code.INVALID_REQUEST, "callback body is not a task object")
    return body


async def relay_callback(request: Request) -> Response:
    receiver = services_of(request).relay_callbacks
    task_id = request.path_params["task_id"]
    receiver.verify(task_id, request.path_params["token"])
    raw = await request.body()
    await receiver.accept(task_id, _task_object(raw), (raw, request.headers))
    return envelope.acknowledged(request_id_of(request))


route = Route(
    f"{CALLBACK_PATH}/{{task_id}}/{{token}}", relay_callback, methods=["POST"], name="relay_callback"
)
