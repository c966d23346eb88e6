"""Push routes for every task family: the event stream and the callback delivery log.

``GET …/{task_id}/events`` streams Server-Sent Events (see :mod:`kling_gateway.push.sse`);
``GET …/{task_id}/callbacks`` lists the callback deliveries of a task with every attempt. Both
take the same auth as the task query and answer errors in the Kling envelope. ``GET /push/stats``
shows what push costs this process (store queries, waiters, deliveries).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response, StreamingResponse

from ..errors import invalid_parameter
from ..push.sse import task_events_stream
from ..schemas import FAMILIES, Envelope, Family
from ..schemas.tasks import TaskStatus
from ..store.deliveries import AttemptRow, DeliveryRow
from . import envelope
from .deps import authenticate, base_url_of, services_of
from .middleware import request_id_of
from .routes import Endpoint, Handler


class CallbackAttempt(BaseModel):
    attempt: int = Field(description="1 for the first send")
    started_at: int = Field(description="ms since the epoch")
    duration_ms: int
    status_code: int | None = Field(None, description="the receiver's HTTP status, if it answered")
    error: str | None = Field(None, description="why the attempt did not count as delivered")


class CallbackDelivery(BaseModel):
    webhook_id: str = Field(description="the `webhook-id` header: the same on every retry of this change")
    event_id: int = Field(description="the status change announced (the event stream's `id`)")
    task_status: str
    url: str
    state: str = Field(description="`pending`, `delivered` or `gave_up`")
    attempts: int
    next_attempt_at: int | None = None
    delivered_at: int | None = None
    gave_up_at: int | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: int = Field(description="time of the status change (ms)")
    history: list[CallbackAttempt]


class CallbacksEnvelope(Envelope):
    data: list[CallbackDelivery]


SSE_RESPONSE: dict[str, Any] = {
    "description": "`text/event-stream`: per status change `id: <event id>`, `event: <task_status>`, "
    "`data: <task object as of that change>`; ends after `succeed` or `failed`; "
    "`: keep-alive` comments while idle.",
    "content": {
        "text/event-stream": {
            "schema": {
                "type": "string",
                "description": "a stream of Server-Sent Events, each as in `x-sse-event`",
            },
            # One event's fields (OpenAPI 3.1 has no item schema for streams; 3.2's is `itemSchema`).
            "x-sse-event": {
                "type": "object",
                "required": ["id", "event", "data"],
                "properties": {
                    "id": {"type": "integer", "description": "event id; send as Last-Event-ID to resume"},
                    "event": {"type": "string", "enum": [str(s) for s in TaskStatus]},
                    "data": {"$ref": "#/components/schemas/Task"},
                },
            },
        }
    },
}


def delivery_view(row: DeliveryRow, attempts: list[AttemptRow]) -> dict[str, Any]:
    state = "delivered" if row.delivered_at else "gave_up" if row.gave_up_at else "pending"
    return {
        "webhook_id": row.webhook_id,
        "event_id": row.event_id,
        "task_status": row.status,
        "url": row.url,
        "state": state,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at,
        "delivered_at": row.delivered_at,
        "gave_up_at": row.gave_up_at,
        "last_status_code": row.last_status_code,
        "last_error": row.last_error,
        "created_at": row.created_at,
        "history": [
            {
                "attempt": a.attempt,
                "started_at": a.started_at,
                "duration_ms": a.duration_ms,
                "status_code": a.status_code,
                "error": a.error,
            }
            for a in attempts
        ],
    }


def _last_event_id(header: str | None, query: str | None) -> int:
    raw = header if header not in (None, "") else query
    if raw in (None, ""):
        return 0
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise invalid_parameter("Last-Event-ID: must be an event id (integer)") from None
    if value < 0:
        raise invalid_parameter("Last-Event-ID: must not be negative")
    return value


LAST_EVENT_ID_PARAMETERS = (
    {
        "name": "Last-Event-ID",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "resume after this event id",
    },
    {
        "name": "last_event_id",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "same as the header, for clients that cannot set it",
    },
)


def _events(family: Family) -> Handler:
    async def events(request: Request) -> Response:
        account = await authenticate(request)
        services = services_of(request)
        row = await services.tasks.get(account, family.name, request.path_params["task_id"])
        after = _last_event_id(
            request.headers.get("last-event-id"), request.query_params.get("last_event_id")
        )
        stream = task_events_stream(
            row.id,
            after=after,
            hub=services.hub,
            reads=services.push.reads,
            signer=services.signer,
            base_url=base_url_of(request),
            keepalive=services.push.config.sse_keepalive_seconds,
        )
        headers = {
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            "X-Request-Id": request_id_of(request),
        }
        return StreamingResponse(stream, media_type="text/event-stream", headers=headers)

    return events


def _callbacks(family: Family) -> Handler:
    async def callbacks(request: Request) -> Response:
        account = await authenticate(request)
        services = services_of(request)
        row = await services.tasks.get(account, family.name, request.path_params["task_id"])
        data = [delivery_view(d, a) for d, a in await services.push.deliveries.for_task(row.id)]
        return envelope.success(data, request_id_of(request))

    return callbacks


def endpoints() -> list[Endpoint]:
    """The event stream and the callback log of a task, for every family."""
    out = []
    for family in FAMILIES.values():
        if family.synchronous:
            continue
        path = f"/{family.name}/{{task_id}}"
        slug = family.name.replace("/", "_").replace("-", "_")
        out += [
            Endpoint(
                "GET",
                path + "/events",
                _events(family),
                name=f"events_{slug}",
                summary=f"Event stream: {family.summary}",
                tag=family.resource,
                description="Server-Sent Events, one per status change, ending after the terminal one. "
                "Send `Last-Event-ID` to resume without loss or duplicates.",
                ok_response=SSE_RESPONSE,
                parameters=LAST_EVENT_ID_PARAMETERS,
            ),
            Endpoint(
                "GET",
                path + "/callbacks",
                _callbacks(family),
                name=f"callbacks_{slug}",
                summary=f"Callback deliveries: {family.summary}",
                tag=family.resource,
                description="Every callback delivery of the task (one per status change) with its attempts.",
                ok=CallbacksEnvelope,
            ),
        ]
    return out


ops_router = APIRouter()


@ops_router.get(
    "/push/stats",
    tags=["ops"],
    summary="Push delivery counters of this process",
    responses={
        401: {"description": "1000–1004: no valid key (or admin token, with ops_access = admin)"},
        403: {"description": "1103: ops_access = admin and the token is not the admin token"},
        404: {"description": "1203: ops_access = off"},
        429: {"description": "1302: request rate of the key"},
    },
)
async def push_stats(request: Request) -> JSONResponse:
    """Store queries sent, hub waiters, long-poll and event-stream reads, callback outcomes.

    Who may read it is ``ops_access`` (api/ops_access.py): a valid key at least, or the admin token."""
    return JSONResponse(services_of(request).push.stats())
