"""The element calls beside the family's create/query/list (spec more §7.7): the official
(preset) elements and delete. Both delete paths act on the one element store."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import invalid_parameter
from ..schemas.elements import DeleteElementRequest
from ..schemas.tasks import Envelope
from . import envelope
from .bodies import json_body
from .deps import authenticate, services_of
from .middleware import request_id_of
from .routes import Endpoint
from .tasks import LIST_PARAMETERS

DELETE_PATHS = ("/general/delete-advanced-elements", "/general/delete-elements")


class ElementListEnvelope(Envelope):
    data: list[dict[str, Any]]


class DeletedEnvelope(Envelope):
    data: dict[str, Any]


def _preset_task(element: dict[str, Any]) -> dict[str, Any]:
    """A preset in the shape of a finished creation task, so one parser reads both lists."""
    return {
        "task_id": str(element["element_id"]),
        "task_status": "succeed",
        "task_status_msg": "",
        "task_info": {},
        "task_result": {"elements": [element]},
        "created_at": 0,
        "updated_at": 0,
    }


async def list_presets(request: Request) -> Response:
    await authenticate(request)
    query = request.query_params
    presets = services_of(request).tasks.preset_elements(query.get("pageNum"), query.get("pageSize"))
    return envelope.success([_preset_task(p) for p in presets], request_id_of(request))


async def delete_element(request: Request) -> Response:
    account = await authenticate(request)
    body = await json_body(request)
    if not isinstance(body, dict) or body.get("element_id") in (None, ""):
        raise invalid_parameter("element_id: is required")
    row = await services_of(request).tasks.delete_element(account, body["element_id"])
    return envelope.success({"task_id": row.id, "task_status": "succeed"}, request_id_of(request))


def endpoints() -> list[Endpoint]:
    return [
        Endpoint(
            "GET",
            "/general/advanced-presets-elements",
            list_presets,
            name="list_preset_elements",
            summary="List the official (preset) elements",
            tag="general",
            ok=ElementListEnvelope,
            parameters=LIST_PARAMETERS,
        ),
        *(
            Endpoint(
                "POST",
                path,
                delete_element,
                name=f"delete_element_{k}",
                summary="Delete an element of this account",
                tag="general",
                body=DeleteElementRequest,
                ok=DeletedEnvelope,
            )
            for k, path in enumerate(DELETE_PATHS)
        ),
    ]
