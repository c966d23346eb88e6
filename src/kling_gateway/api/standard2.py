"""Routes of the new API standard, served at the root (as Kling does) and under ``/kling``
(CometAPI's layout rule): ``POST /<product>/{model}``, ``GET /tasks``, ``POST /tasks``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import Code, KlingError
from ..present import Answer
from ..schemas.standard2 import (
    ContentsBody,
    CreatedRecordEnvelope,
    RecordListEnvelope,
    RecordPageEnvelope,
    TaskListBody,
    TextToVideoBody,
)
from ..standard2 import PRODUCTS, Product
from ..standard2.records import created_record, record
from ..store import AccountRow, TaskRow
from . import envelope
from .bodies import json_body
from .deps import base_url_of, services_of
from .middleware import request_id_of
from .routes import Endpoint, Handler

PREFIXES = ("", "/kling")
AKSK_REFUSED = "The current API does not support AK/SK"

QUERY_PARAMETERS = (
    {
        "name": "task_ids",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "comma-separated task ids, at most 20",
    },
    {
        "name": "external_task_ids",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "comma-separated external task ids, at most 20 (never with task_ids)",
    },
)


async def authenticate_key(request: Request) -> AccountRow:
    """API keys only: a Kling AK/SK JWT is refused on these paths (§2: HTTP 401, code 1002)."""
    header = request.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip().count(".") == 2:
        raise KlingError(Code.AUTH_INVALID, AKSK_REFUSED)
    return await services_of(request).auth.authenticate(request.headers.get("authorization"))


def _create(product: Product) -> Handler:
    async def create(request: Request) -> Response:
        account = await authenticate_key(request)
        body = await json_body(request)
        row = await services_of(request).standard2.create(
            account, product, request.path_params["model"], body
        )
        return envelope.success(created_record(row), request_id_of(request))

    return create


async def query_tasks(request: Request) -> Response:
    account = await authenticate_key(request)
    services = services_of(request)
    query = request.query_params
    base = base_url_of(request)
    records = services.records
    # a finished task's record is kept (it never changes) and spliced in; the others are read
    items = await services.standard2.query(
        account,
        query.get("task_ids"),
        query.get("external_task_ids"),
        known=records.finder(account.id, "", base),
    )
    rows = [item for item in items if isinstance(item, TaskRow)]
    await services.signer.prepare_rows(rows)
    data = b",".join(item.data if isinstance(item, Answer) else records.of(item, base).data for item in items)
    return envelope.success_json(b"[" + data + b"]", request_id_of(request))


async def list_tasks(request: Request) -> Response:
    account = await authenticate_key(request)
    services = services_of(request)
    body: Any = await json_body(request) if await request.body() else {}
    page = await services.standard2.listing(account, body)
    await services.signer.prepare_rows(page.rows)
    base = base_url_of(request)
    data = {
        "result": [record(row, services.signer, base) for row in page.rows],
        "count": len(page.rows),
        "next_cursor": page.next_cursor,
        "has_more": page.has_more,
    }
    return envelope.success(data, request_id_of(request))


def endpoints() -> list[Endpoint]:
    table = [
        Endpoint(
            "GET",
            "/tasks",
            query_tasks,
            name="query_tasks",
            summary="Query tasks by id or external id (new standard)",
            tag="new standard",
            description="`task_ids` **or** `external_task_ids`, comma-separated, at most 20. Unknown ids "
            "are left out. Tasks of both standards are returned, as records.",
            ok=RecordListEnvelope,
            parameters=QUERY_PARAMETERS,
        ),
        Endpoint(
            "POST",
            "/tasks",
            list_tasks,
            name="list_tasks",
            summary="List tasks with a cursor (new standard)",
            tag="new standard",
            description="Newest first. `next_cursor` continues after the last row; rows created meanwhile "
            "never shift the pages still to come.",
            body=TaskListBody,
            ok=RecordPageEnvelope,
        ),
    ]
    for product in PRODUCTS.values():
        table.append(
            Endpoint(
                "POST",
                f"/{product.name}/{{model}}",
                _create(product),
                name=f"create_{product.name.replace('-', '_')}",
                summary=f"Create: {product.summary} (new standard)",
                tag="new standard",
                description="The model is the path segment (`GET /v1/models?family=v2/"
                f"{product.name}` lists them); per-model rules as in the catalogue.",
                body=TextToVideoBody if product.takes_prompt else ContentsBody,
                ok=CreatedRecordEnvelope,
            )
        )
    return table
