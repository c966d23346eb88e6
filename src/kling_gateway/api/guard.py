"""Hostile-input checks at the edge, before a handler or the store sees the request.

* NUL bytes: PostgreSQL cannot store ``\\x00`` in text; a path, query or JSON string carrying
  one is refused with 1200/1201 (never a 500 from the driver).
* Body size: each route has a cap (creates are larger, they carry inline Base64 media). A
  ``Content-Length`` above it is refused before a byte of the body is read; a chunked body is
  counted while it streams and refused as soon as it passes the cap. 413, code 1200.
* JSON nesting: deeper than ``max_json_depth`` is 1200 (deep nesting otherwise ends in a
  RecursionError somewhere down the stack).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.types import Message, Receive, Scope, Send

from ..config import Settings
from ..errors import Code, KlingError
from ..schemas import FAMILIES
from ..schemas.encoding import dumps

KLING_PREFIXES = ("/v1/", "/kling/v1/")


def body_too_large(limit: int) -> KlingError:
    return KlingError(
        Code.INVALID_REQUEST, f"request body is larger than the {limit}-byte limit for this route", status=413
    )


def check_json(value: Any, max_depth: int, raw: bytes | None = None) -> None:
    """Refuse JSON nested deeper than ``max_depth`` or holding a NUL byte in a key or string.

    Iterative, so it cannot itself overflow the stack. A scalar is checked where it is met, so
    only containers are stacked and a path is only spelled out for them (and for the error).
    ``raw``, the bytes ``value`` was parsed from, settles most bodies without the walk: in UTF-8
    JSON (no NUL byte at all; UTF-16 and UTF-32 have them) a NUL in a string can only be the
    escape ``\u0000``, and no more levels can open than there are brackets."""
    if raw is not None and b"\x00" not in raw and b"\\u0000" not in raw:
        if raw.count(b"{") + raw.count(b"[") <= max_depth:
            return
    if isinstance(value, str):
        if "\x00" in value:
            raise KlingError(Code.INVALID_PARAMETER, "body: must not contain NUL (\\u0000)")
        return
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, where = stack.pop()
        if not isinstance(item, dict | list):
            continue
        if depth > max_depth:
            raise KlingError(Code.INVALID_REQUEST, f"request body nests deeper than {max_depth} levels")
        pairs = item.items() if isinstance(item, dict) else enumerate(item)
        for key, child in pairs:
            if isinstance(key, str) and "\x00" in key:
                raise KlingError(Code.INVALID_PARAMETER, "body: a field name contains NUL (\\u0000)")
            if isinstance(child, str):
                if "\x00" in child:
                    raise KlingError(
                        Code.INVALID_PARAMETER, f"{_path(where, key)}: must not contain NUL (\\u0000)"
                    )
            elif isinstance(child, dict | list):
                stack.append((child, depth + 1, _path(where, key)))


def _path(where: str, key: str | int) -> str:
    """The path of ``key`` (a field name or a list index) under ``where``."""
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


def body_limit(method: str, path: str, settings: Settings) -> int:
    """The body cap of a route: creates (``POST /v1/<family>``) get the large one."""
    if method == "POST":
        for prefix in KLING_PREFIXES:
            if path.startswith(prefix) and path[len(prefix) :].strip("/") in FAMILIES:
                return settings.max_create_body_bytes
    return settings.max_body_bytes


def _nul_in_target(scope: Scope) -> bool:
    if "\x00" in scope.get("path", ""):
        return True
    query: bytes = scope.get("query_string", b"")
    return b"\x00" in query or (b"%00" in query and b"\x00" in unquote_to_bytes(query))


def refusal(scope: Scope, limit: int) -> KlingError | None:
    """Why the request is refused before it reaches a route (NUL in the target, a declared body
    above the route's cap ``limit``, from :func:`body_limit`), else None."""
    if _nul_in_target(scope):
        return KlingError(Code.INVALID_REQUEST, "request path or query contains a NUL byte (%00)")
    declared = _content_length(scope)
    if declared is not None and declared > limit:
        return body_too_large(limit)
    return None


async def refuse(send: Send, exc: KlingError, request_id: str) -> None:
    """The envelope for a refused request; the connection closes (the body is left unread)."""
    body = dumps({"code": exc.code, "message": exc.message, "request_id": request_id}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": exc.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def counted(receive: Receive, limit: int) -> Receive:
    """``receive`` that refuses a streamed body as soon as it passes ``limit`` bytes."""
    received = 0

    async def receive_counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise body_too_large(limit)
        return message

    return receive_counted


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
