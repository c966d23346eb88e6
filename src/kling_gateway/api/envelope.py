"""Building Kling envelopes as bytes (the hot path skips pydantic serialisation)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from ..errors import KlingError
from ..schemas.encoding import dumps


def success(data: Any, request_id: str, *, message: str = "SUCCEED") -> Response:
    return success_json(dumps(data).encode(), request_id, message=message)


_SUCCEED_HEAD = b'{"code":0,"message":"SUCCEED","request_id":'


def success_json(
    data: bytes, request_id: str, *, message: str = "SUCCEED", headers: dict[str, str] | None = None
) -> Response:
    """The envelope around ``data`` already serialized (a cached task answer): spliced in as
    bytes, never parsed or encoded again. The request id differs per request, the data need not.
    ``headers`` are sent besides ``X-Request-Id``."""
    head = (
        _SUCCEED_HEAD
        if message == "SUCCEED"
        else b'{"code":0,"message":' + dumps(message).encode() + b',"request_id":'
    )
    body = head + dumps(request_id).encode() + b',"data":' + data + b"}"
    all_headers = {"X-Request-Id": request_id, **headers} if headers else {"X-Request-Id": request_id}
    return Response(body, media_type="application/json", headers=all_headers)


def acknowledged(request_id: str) -> Response:
    """``{code: 0, message: "SUCCEED", request_id}`` with no data (a webhook's receipt)."""
    body = dumps({"code": 0, "message": "SUCCEED", "request_id": request_id})
    return Response(body.encode(), media_type="application/json", headers={"X-Request-Id": request_id})


def error(exc: KlingError, request_id: str) -> Response:
    body = dumps({"code": exc.code, "message": exc.message, "request_id": request_id})
    headers = {"X-Request-Id": request_id, **exc.headers}
    return Response(
        body.encode(), status_code=exc.http_status, media_type="application/json", headers=headers
    )
