"""``GET /tasks/search`` (gateway extension): the caller's tasks across every family, filtered and
paged by cursor, newest first. The console's task list uses it; any client may.

Filters: ``family`` and ``status`` (comma-separated lists), ``created_from`` / ``created_to``
(ms since the epoch, half-open), ``external_task_id``, ``model``, ``q`` (text in the prompt). ``cursor`` is
the ``next_cursor`` of the previous page, opaque to clients.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from pydantic import BaseModel, Field
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from ..errors import invalid_parameter
from ..present import task_object
from ..schemas import FAMILIES, Envelope, Task, TaskStatus
from ..store.search import Position, TaskFilter, search_tasks
from . import envelope
from .deps import authenticate, base_url_of, services_of
from .middleware import request_id_of
from .routes import Endpoint

STATUSES = tuple(s.value for s in TaskStatus)
LIMIT_RANGE = (1, 100)
DEFAULT_LIMIT = 20


class FoundTask(Task):
    family: str = Field(description="the task's family, e.g. `videos/text2video`")
    model_name: str | None = Field(None, description="the model asked for (None: the family's default)")
    prompt: str | None = None


class SearchPage(BaseModel):
    tasks: list[FoundTask]
    next_cursor: str | None = Field(None, description="pass as `cursor` for the next page; null on the last")


class SearchEnvelope(Envelope):
    data: SearchPage


def _query_parameter(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


PARAMETERS = (
    _query_parameter(
        "family", "comma-separated families, e.g. `videos/text2video,images/generations`", {"type": "string"}
    ),
    _query_parameter("status", "comma-separated statuses: " + ", ".join(STATUSES), {"type": "string"}),
    _query_parameter("created_from", "created at or after (ms since the epoch)", {"type": "integer"}),
    _query_parameter("created_to", "created before (ms since the epoch)", {"type": "integer"}),
    _query_parameter("external_task_id", "the `external_task_id` given at creation", {"type": "string"}),
    _query_parameter("model", "the model asked for (`model_name`, legacy `model`)", {"type": "string"}),
    _query_parameter("q", "text in the prompt (case-insensitive)", {"type": "string", "maxLength": 200}),
    _query_parameter(
        "limit",
        f"{LIMIT_RANGE[0]}–{LIMIT_RANGE[1]}, default {DEFAULT_LIMIT}",
        {"type": "integer", "minimum": LIMIT_RANGE[0], "maximum": LIMIT_RANGE[1], "default": DEFAULT_LIMIT},
    ),
    _query_parameter("cursor", "`next_cursor` of the previous page", {"type": "string"}),
)


def encode_cursor(position: Position) -> str:
    raw = f"{position.created_at}:{position.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, _, task_id = raw.partition(":")
        if not task_id:
            raise ValueError(raw)
        return Position(int(created), task_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid_parameter(
            "cursor: not a cursor this endpoint gave (pass next_cursor unchanged)"
        ) from None


def _list(query: QueryParams, name: str, allowed: Any) -> list[str]:
    values = [v.strip() for v in (query.get(name) or "").split(",") if v.strip()]
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise invalid_parameter(f"{name}: unknown value '{unknown[0]}' (one of: {', '.join(allowed)})")
    return values


def _int(query: QueryParams, name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise invalid_parameter(f"{name}: must be an integer (ms since the epoch)") from None


def _limit(query: QueryParams) -> int:
    value = _int(query, "limit")
    if value is None:
        return DEFAULT_LIMIT
    if not LIMIT_RANGE[0] <= value <= LIMIT_RANGE[1]:
        raise invalid_parameter(f"limit: must be between {LIMIT_RANGE[0]} and {LIMIT_RANGE[1]}")
    return value


def parse_filter(account_id: str, query: QueryParams) -> TaskFilter:
    """The filter a query string asks for; 1201 naming the parameter when one is malformed."""
    text = query.get("q") or None
    if text is not None and len(text) > 200:
        raise invalid_parameter("q: at most 200 characters")
    return TaskFilter(
        account_id=account_id,
        families=_list(query, "family", FAMILIES),
        statuses=_list(query, "status", STATUSES),
        created_from=_int(query, "created_from"),
        created_to=_int(query, "created_to"),
        external_task_id=query.get("external_task_id") or None,
        prompt_text=text,
        model_name=query.get("model") or None,
    )


async def search(request: Request) -> Response:
    account = await authenticate(request)
    query = request.query_params
    f = parse_filter(account.id, query)
    limit = _limit(query)
    cursor = query.get("cursor")
    after = decode_cursor(cursor) if cursor else None
    services = services_of(request)
    found, last = await search_tasks(services.tasks.store.db, f, limit, after)
    await services.signer.prepare_rows([hit.row for hit in found])
    base = base_url_of(request)
    tasks = [
        {
            **task_object(hit.row, services.signer, base),
            "family": hit.row.family,
            "model_name": hit.model_name,
            "prompt": hit.prompt,
        }
        for hit in found
    ]
    page = {"tasks": tasks, "next_cursor": encode_cursor(last) if last else None}
    return envelope.success(page, request_id_of(request))


def endpoints() -> list[Endpoint]:
    return [
        Endpoint(
            "GET",
            "/tasks/search",
            search,
            name="search_tasks",
            summary="Search your tasks across families (gateway extension)",
            tag="tasks",
            description=__doc__,
            ok=SearchEnvelope,
            parameters=PARAMETERS,
        )
    ]
