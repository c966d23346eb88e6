"""Task routes for every family: create, query one (by task id or external_task_id), list.

Served under the official layout ``/v1/...`` and the CometAPI layout ``/kling/v1/...``; the body
of a create is validated by the family's wire model in the service.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import Code, KlingError
from ..present import Answer, created_object
from ..push import longpoll
from ..schemas import FAMILIES, CreatedEnvelope, Family, TaskEnvelope, TaskListEnvelope
from ..schemas.voices import VOICE_PAGE_SIZE_MAX, VOICES
from ..service import PAGE_NUM_RANGE, PAGE_SIZE_RANGE, parse_prefer_wait
from ..store import TaskRow
from . import envelope, routes
from .bodies import json_body
from .deps import authenticate, base_url_of, services_of
from .middleware import request_id_of
from .routes import Endpoint, Handler

MULTI_ELEMENTS = "videos/multi-elements"
SELECTION_CALLS = frozenset(
    {"init-selection", "add-selection", "delete-selection", "clear-selection", "preview-selection"}
)

QUERY_DESCRIPTION = (
    "`task_id` may also be the `external_task_id` given at creation. "
    "Send `Prefer: wait=N` (N ≤ 60) to long-poll until the status differs from the one last seen "
    "(`If-None-Match: <ETag>` of an earlier answer, else the current one) or is terminal; "
    "the answer then carries `Preference-Applied`. Every answer carries a weak `ETag`."
)


def page_parameter(name: str, bounds: tuple[int, int], default: int) -> dict[str, Any]:
    low, high = bounds
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": low, "maximum": high, "default": default},
        "description": f"{low}–{high}, default {default}",
    }


LIST_PARAMETERS = (
    page_parameter("pageNum", PAGE_NUM_RANGE, 1),
    page_parameter("pageSize", PAGE_SIZE_RANGE, 30),
)
VOICE_LIST_PARAMETERS = (LIST_PARAMETERS[0], page_parameter("pageSize", (1, VOICE_PAGE_SIZE_MAX), 30))


def _query(family: Family) -> Handler:
    async def get_task(request: Request) -> Response:
        task_id = request.path_params["task_id"]
        if family.name == MULTI_ELEMENTS and task_id in SELECTION_CALLS:  # those are POST-only calls
            raise KlingError(Code.INVALID_METHOD, f"method GET is not allowed for {request.url.path}")
        account = await authenticate(request)
        services = services_of(request)
        base = base_url_of(request)
        prefer = request.headers.get("prefer")
        # a finished task never changes (and a wait on it ends at once): its answer needs no read
        answer = services.answers.cached(account.id, family.name, task_id, base)
        if answer is None:
            row = await services.tasks.get(account, family.name, task_id)
            if prefer:
                seen = longpoll.seen_status(request.headers.get("if-none-match"))
                row = await services.tasks.wait_if_asked(account, row, prefer, seen=seen)
            await services.signer.prepare_rows([row])  # S3 presigned URLs, when configured
            answer = services.answers.of(row, base, ref=task_id)
        headers = longpoll.answer_headers(longpoll.etag_of(answer), parse_prefer_wait(prefer))
        return envelope.success_json(answer.data, request_id_of(request), headers=headers)

    return get_task


def _create(family: Family) -> Handler:
    async def create_task(request: Request) -> Response:
        account = await authenticate(request)
        body = await json_body(request)
        key = request.headers.get("idempotency-key")
        row, replayed = await services_of(request).creates.create(account, family.name, body, key)
        answer = envelope.success(created_object(row), request_id_of(request))
        if replayed:
            answer.headers["Idempotent-Replayed"] = "true"
        return answer

    return create_task


def _create_sync(family: Family) -> Handler:
    async def run_task(request: Request) -> Response:
        account = await authenticate(request)
        body = await json_body(request)
        services = services_of(request)
        row = await services.tasks.create_sync(account, family.name, body)
        await services.signer.prepare_rows([row])
        answer = services.answers.of(row, base_url_of(request))
        return envelope.success_json(answer.data, request_id_of(request))

    return run_task


def _list(family: Family) -> Handler:
    async def list_tasks(request: Request) -> Response:
        account = await authenticate(request)
        services = services_of(request)
        query = request.query_params
        base = base_url_of(request)
        answers = services.answers
        # finished tasks' answers are spliced in as kept; only the others' rows are read
        items = await services.tasks.list(
            account,
            family.name,
            query.get("pageNum"),
            query.get("pageSize"),
            known=answers.finder(account.id, family.name, base),
        )
        rows = [item for item in items if isinstance(item, TaskRow)]
        await services.signer.prepare_rows(rows)
        data = b",".join(
            item.data if isinstance(item, Answer) else answers.of(item, base).data for item in items
        )
        return envelope.success_json(b"[" + data + b"]", request_id_of(request))

    return list_tasks


def _slug(family: Family) -> str:
    return family.name.replace("/", "_").replace("-", "_")


def query_endpoints() -> list[Endpoint]:
    return [
        Endpoint(
            "GET",
            f"/{f.name}/{{task_id}}",
            _query(f),
            name=f"get_{_slug(f)}",
            summary=f"Query one: {f.summary}",
            tag=f.resource,
            description=QUERY_DESCRIPTION,
            ok=TaskEnvelope,
            ok_headers=longpoll.RESPONSE_HEADERS,
            parameters=longpoll.REQUEST_HEADERS,
        )
        for f in FAMILIES.values()
        if not f.synchronous
    ]


def family_endpoints() -> list[Endpoint]:
    """Create and list, on the family's own path (a synchronous family: create only)."""
    endpoints = []
    for f in FAMILIES.values():
        if f.synchronous:
            endpoints.append(
                Endpoint(
                    "POST",
                    f"/{f.name}",
                    _create_sync(f),
                    name=f"create_{_slug(f)}",
                    summary=f"Run: {f.summary}",
                    tag=f.resource,
                    description="Synchronous: the answer is the finished task, with its result.",
                    body=f.request_model,
                    ok=TaskEnvelope,
                )
            )
            continue
        endpoints += [
            Endpoint(
                "POST",
                f"/{f.name}",
                _create(f),
                name=f"create_{_slug(f)}",
                summary=f"Create: {f.summary}",
                tag=f.resource,
                body=f.request_model,
                ok=CreatedEnvelope,
                parameters=(routes.IDEMPOTENCY_PARAMETER,),
                errors=routes.CREATE_ERRORS,
            ),
            Endpoint(
                "GET",
                f"/{f.name}",
                _list(f),
                name=f"list_{_slug(f)}",
                summary=f"List: {f.summary}",
                tag=f.resource,
                ok=TaskListEnvelope,
                parameters=LIST_PARAMETERS if f.name != VOICES else VOICE_LIST_PARAMETERS,
            ),
        ]
    return endpoints
