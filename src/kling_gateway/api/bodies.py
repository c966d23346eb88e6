"""Reading a request body as JSON, or as a wire model, with Kling's error codes and words."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from ..errors import Code, KlingError, invalid_parameter
from ..schemas import validation_error
from .deps import services_of
from .guard import check_json

M = TypeVar("M", bound=BaseModel)


def parse_json(raw: bytes, max_depth: int) -> Any:
    """JSON with no NUL byte in a string and at most ``max_depth`` levels (see api/guard.py)."""
    try:
        value = json.loads(raw)
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        raise KlingError(Code.INVALID_REQUEST, f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise KlingError(Code.INVALID_REQUEST, f"request body nests deeper than {max_depth} levels") from None
    check_json(value, max_depth, raw)
    return value


async def json_body(request: Request) -> Any:
    """The body as JSON, whatever the client labels it (curl -d sends a form type)."""
    return parse_json(await request.body(), services_of(request).settings.max_json_depth)


async def model_body(request: Request, model: type[M]) -> M:
    """The body validated by ``model``: 1200 for broken JSON, 1201 naming the field otherwise."""
    raw = await request.body()
    if not raw.strip():
        raise invalid_parameter("request body is required")
    body = parse_json(raw, services_of(request).settings.max_json_depth)
    if not isinstance(body, dict):
        raise invalid_parameter("request body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise validation_error(exc) from None
