"""Push routes for every task family: the event stream and the callback delivery log.

``GET …/{task_id}/events`` streams Server-Sent Events (see :mod:`kling_gateway.push.sse`);
``GET …/{task_id}/callbacks`` lists the callback deliveries of a task with every attempt. Both
take the same auth as the task query and answer errors in the Kling envelope. ``GET /push/stats``
shows what push costs this process (store queries, waiters, deliveries).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response, StreamingResponse

from ..errors import invalid_parameter
from ..schemas import FAMILIES, Envelope, Family
from ..store import AccountRow
from ..store.deliveries import AttemptRow, DeliveryRow
from . import envelope
from .deps import base_url_of, current_account, gateway_of
from .middleware import request_id_of
from .tasks import ERROR_RESPONSES


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


SSE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "`text/event-stream`: per status change `id: <event id>`, `event: <task_status>`, "
        "`data: <task object as of that change>`; ends after `succeed` or `failed`; "
        "`: keep-alive` comments while idle.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
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


def _add_family_routes(router: APIRouter, family: Family) -> None:
    from ..push.sse import task_events_stream

    path = "/" + family.name + "/{task_id}"
    slug = family.name.replace("/", "_").replace("-", "_")

    async def events(
        request: Request,
        task_id: str,
        account: AccountRow = Depends(current_account),
        last_event_id: str | None = Header(None, description="resume after this event id"),
        last_event_id_query: str | None = Query(
            None, alias="last_event_id", description="same as the header, for clients that cannot set it"
        ),
    ) -> Response:
        gateway = gateway_of(request)
        row = await gateway.service.get(account, family.name, task_id)
        after = _last_event_id(last_event_id, last_event_id_query)
        stream = task_events_stream(
            row.id,
            after=after,
            hub=gateway.hub,
            reads=gateway.push.reads,
            signer=gateway.signer,
            base_url=base_url_of(request),
            keepalive=gateway.push.config.sse_keepalive_seconds,
        )
        headers = {
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            "X-Request-Id": request_id_of(request),
        }
        return StreamingResponse(stream, media_type="text/event-stream", headers=headers)

    async def callbacks(
        request: Request, task_id: str, account: AccountRow = Depends(current_account)
    ) -> Response:
        gateway = gateway_of(request)
        row = await gateway.service.get(account, family.name, task_id)
        data = [delivery_view(d, a) for d, a in await gateway.push.deliveries.for_task(row.id)]
        return envelope.success(data, request_id_of(request))

    router.add_api_route(
        path + "/events",
        events,
        methods=["GET"],
        name=f"events_{slug}",
        summary=f"Event stream: {family.summary}",
        description="Server-Sent Events, one per status change, ending after the terminal one. "
        "Send `Last-Event-ID` to resume without loss or duplicates.",
        tags=[family.resource],
        responses={**SSE_RESPONSE, **ERROR_RESPONSES},
        response_class=StreamingResponse,
    )
    router.add_api_route(
        path + "/callbacks",
        callbacks,
        methods=["GET"],
        name=f"callbacks_{slug}",
        summary=f"Callback deliveries: {family.summary}",
        description="Every callback delivery of the task (one per status change) with its attempts.",
        tags=[family.resource],
        responses={200: {"model": CallbacksEnvelope}, **ERROR_RESPONSES},
    )


def build_router() -> APIRouter:
    router = APIRouter()
    for family in FAMILIES.values():
        _add_family_routes(router, family)
    return router


ops_router = APIRouter()


@ops_router.get("/push/stats", tags=["ops"], summary="Push delivery counters of this process")
async def push_stats(request: Request, _account: AccountRow = Depends(current_account)) -> JSONResponse:
    """Store queries sent, hub waiters, long-poll and event-stream reads, callback outcomes."""
    return JSONResponse(gateway_of(request).push.stats())
