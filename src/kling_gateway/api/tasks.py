"""Task routes for every family: create, query one (by task id or external_task_id), list.

Served under the official layout ``/v1/...`` and the CometAPI layout ``/kling/v1/...``.
"""

import json
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request
from starlette.responses import Response

from ..errors import Code, KlingError
from ..present import created_object, task_object
from ..push import longpoll
from ..schemas import FAMILIES, CreatedEnvelope, ErrorBody, Family, TaskEnvelope, TaskListEnvelope
from ..service import parse_prefer_wait
from ..store import AccountRow
from . import envelope
from .deps import base_url_of, current_account, gateway_of
from .middleware import request_id_of

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorBody,
        "description": "1200 invalid request / 1201 invalid parameter / 1300–1301 policy",
    },
    401: {"model": ErrorBody, "description": "1000–1004 authentication failed"},
    403: {"model": ErrorBody, "description": "1103 no permission"},
    404: {
        "model": ErrorBody,
        "description": "1202 invalid method / 1203 resource (task, route, model) not found",
    },
    429: {"model": ErrorBody, "description": "1100–1102 account / 1302–1304 rate and concurrency limits"},
    500: {"model": ErrorBody, "description": "5000 internal error"},
    503: {"model": ErrorBody, "description": "5001 service unavailable"},
    504: {"model": ErrorBody, "description": "5002 timeout"},
}


async def task_response(request: Request, account: AccountRow, family_name: str, task_id: str) -> Response:
    """Query one task (with optional long-poll): shared by the documented route and the fast path."""
    gateway = gateway_of(request)
    row = await gateway.service.get(account, family_name, task_id)
    prefer = request.headers.get("prefer")
    if prefer:
        seen = longpoll.seen_status(request.headers.get("if-none-match"))
        row = await gateway.service.wait_if_asked(account, row, prefer, seen=seen)
    await gateway.signer.prepare_rows([row])  # S3 presigned URLs, when configured
    data = task_object(row, gateway.signer, base_url_of(request))
    return longpoll.decorate(envelope.success(data, request_id_of(request)), row, parse_prefer_wait(prefer))


SELECTION_CALLS = frozenset(
    {"init-selection", "add-selection", "delete-selection", "clear-selection", "preview-selection"}
)


async def fast_get_task(request: Request) -> Response:
    """``GET /{prefix}/{resource}/{action}/{task_id}`` without FastAPI's routing and dependency layers.

    Polling is most of a gateway's traffic. This plain Starlette route sits first in the route
    table; it answers exactly as the documented per-family routes (which stay for OpenAPI)."""
    params = request.path_params
    family = f"{params['resource']}/{params['action']}"
    task_id = params["task_id"]
    try:
        if family not in FAMILIES:
            raise KlingError(Code.RESOURCE_NOT_FOUND, f"no such route: GET {request.url.path}")
        if family == "videos/multi-elements" and task_id in SELECTION_CALLS:
            raise KlingError(Code.INVALID_METHOD, f"method GET is not allowed for {request.url.path}")
        account = await gateway_of(request).auth.authenticate(request.headers.get("authorization"))
        return await task_response(request, account, family, task_id)
    except KlingError as exc:
        return envelope.error(exc, request_id_of(request))


async def create_response(request: Request, account: AccountRow, family_name: str, body: Any) -> Response:
    row = await gateway_of(request).service.create(account, family_name, body)
    return envelope.success(created_object(row), request_id_of(request))


async def list_response(request: Request, account: AccountRow, family_name: str) -> Response:
    gateway = gateway_of(request)
    query = request.query_params
    rows = await gateway.service.list(account, family_name, query.get("pageNum"), query.get("pageSize"))
    base = base_url_of(request)
    await gateway.signer.prepare_rows(rows)
    data = [task_object(row, gateway.signer, base) for row in rows]
    return envelope.success(data, request_id_of(request))


async def fast_family_route(request: Request) -> Response:
    """``POST`` (create) and ``GET`` (list) on ``/{prefix}/{resource}/{action}``, like
    :func:`fast_get_task`: the same service calls as the documented routes, minus FastAPI's layers.
    The body is parsed and validated by the family's wire model in the service."""
    params = request.path_params
    family = f"{params['resource']}/{params['action']}"
    try:
        if family not in FAMILIES:
            raise KlingError(Code.RESOURCE_NOT_FOUND, f"no such route: {request.method} {request.url.path}")
        account = await gateway_of(request).auth.authenticate(request.headers.get("authorization"))
        if request.method == "GET":
            return await list_response(request, account, family)
        try:
            body = json.loads(await request.body())
        except ValueError as exc:
            raise KlingError(Code.INVALID_REQUEST, f"request body is not valid JSON: {exc}") from None
        return await create_response(request, account, family, body)
    except KlingError as exc:
        return envelope.error(exc, request_id_of(request))


def _add_family_routes(router: APIRouter, family: Family) -> None:
    path = "/" + family.name
    model = family.request_model
    tag = family.resource

    # These documented routes describe the API in OpenAPI; requests are answered by the fast
    # routes in front of them (fast_family_route, fast_get_task), which call the same functions.
    async def create(
        request: Request,
        body: model = Body(...),  # type: ignore[valid-type]
        account: AccountRow = Depends(current_account),
    ) -> Response:
        raw = body.model_dump(mode="json", exclude_unset=True)  # type: ignore[attr-defined]
        return await create_response(request, account, family.name, raw)

    async def get_one(
        request: Request, task_id: str, account: AccountRow = Depends(current_account)
    ) -> Response:
        return await task_response(request, account, family.name, task_id)

    async def list_tasks(
        request: Request,
        account: AccountRow = Depends(current_account),
        page_num: str | None = Query(None, alias="pageNum", description="1–1000, default 1"),
        page_size: str | None = Query(None, alias="pageSize", description="1–500, default 30"),
    ) -> Response:
        return await list_response(request, account, family.name)

    slug = family.name.replace("/", "_").replace("-", "_")
    router.add_api_route(
        path,
        create,
        methods=["POST"],
        name=f"create_{slug}",
        summary=f"Create: {family.summary}",
        tags=[tag],
        responses={200: {"model": CreatedEnvelope}, **ERROR_RESPONSES},
    )
    router.add_api_route(
        path,
        list_tasks,
        methods=["GET"],
        name=f"list_{slug}",
        summary=f"List: {family.summary}",
        tags=[tag],
        responses={200: {"model": TaskListEnvelope}, **ERROR_RESPONSES},
    )
    router.add_api_route(
        path + "/{task_id}",
        get_one,
        methods=["GET"],
        name=f"get_{slug}",
        summary=f"Query one: {family.summary}",
        description="`task_id` may also be the `external_task_id` given at creation. "
        "Send `Prefer: wait=N` (N ≤ 60) to long-poll until the status differs from the one last seen "
        "(`If-None-Match: <ETag>` of an earlier answer, else the current one) or is terminal; "
        "the answer then carries `Preference-Applied`. Every answer carries a weak `ETag`.",
        tags=[tag],
        responses={200: {"model": TaskEnvelope, "headers": longpoll.RESPONSE_HEADERS}, **ERROR_RESPONSES},
        openapi_extra={"parameters": longpoll.REQUEST_HEADERS},
    )


def build_router() -> APIRouter:
    router = APIRouter()
    for family in FAMILIES.values():
        _add_family_routes(router, family)
    return router
