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
    raw = [(b"x-request-id", request_id.encode("latin-1"))]
    if headers:
        raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    return JsonBytes(body, raw)


class JsonBytes(Response):
    """A JSON response over bytes already encoded, its header list built directly (what
    ``Response(body, media_type=..., headers=...)`` builds, without the generic header pass: the
    envelope's headers are known here). ``headers`` stays the usual mutable view."""

    media_type = "application/json"

    def __init__(self, body: bytes, raw_headers: list[tuple[bytes, bytes]], status_code: int = 200):
        self.status_code = status_code
        self.background = None
        self.body = body
        raw_headers.append((b"content-length", str(len(body)).encode("latin-1")))
        raw_headers.append((b"content-type", b"application/json"))
        self.raw_headers = raw_headers


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
