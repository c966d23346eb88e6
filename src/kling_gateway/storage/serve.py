"""Serving stored results over HTTP, with single byte ranges, for every storage back end.

Starlette's ``FileResponse`` does handle ``Range`` (multipart for several ranges, 400 for a
malformed header), but only for local files. One implementation over ``Storage.stream`` serves
local and S3 objects identically: same headers, same ETag source, same range rules, streamed in
64 KiB chunks and never loaded whole.

Range rules (RFC 9110 §14): one ``bytes=a-b``, ``bytes=a-`` or ``bytes=-n`` range gives 206 with
``Content-Range``; a first byte past the end (or an empty object, or ``-0``) gives 416 with
``Content-Range: bytes */size``; several ranges, other units or syntax errors are ignored and the
whole object is sent with 200, as the RFC allows. ``If-Range`` that does not match the ETag also
sends the whole object; ``If-None-Match`` matching it gives 304.
"""

from __future__ import annotations

import hashlib
import re
from email.utils import formatdate

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..errors import GatewayError
from .base import ObjectInfo, Storage, StoredObject

DEFAULT_CACHE_CONTROL = "private, max-age=3600"
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class RangeNotSatisfiable(GatewayError):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive ``(start, end)`` asked by a ``Range`` header, or None to send everything.

    Raises :class:`RangeNotSatisfiable` when the range is valid but lies outside the object.
    """
    if not header:
        return None
    match = _RANGE.match(header)
    if not match:
        return None  # several ranges, other units or garbage: ignore
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last n bytes
        n = int(last)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable("the range lies outside the object")
        return max(0, size - n), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # invalid, ignored
    if start >= size:
        raise RangeNotSatisfiable("the range lies outside the object")
    return start, min(end, size - 1)


def _etag(obj: StoredObject, key: str, size: int) -> str:
    etag = obj.etag if isinstance(obj, ObjectInfo) else None
    if etag:
        return etag
    digest = hashlib.sha256(f"{key}\n{size}".encode()).hexdigest()[:32]
    return f'W/"{digest}"'


def _matches(header: str, etag: str) -> bool:
    """Weak comparison, as If-None-Match uses."""
    if header.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in header.split(","))


async def file_response(
    storage: Storage, key: str, request: Request, *, cache_control: str = DEFAULT_CACHE_CONTROL
) -> Response:
    """A 200/206/304/416 response for the object ``key``; raises ``FileNotFoundError`` if absent.

    Works for GET and HEAD (headers only). ``key`` is validated by the storage (``ValueError``).
    """
    obj = await storage.stat(key)
    if obj is None:
        raise FileNotFoundError(key)
    size = obj.size
    etag = _etag(obj, key, size)
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Cache-Control": cache_control,
        "Content-Type": obj.content_type,
    }
    modified = obj.modified if isinstance(obj, ObjectInfo) else None
    if modified is not None:
        headers["Last-Modified"] = formatdate(modified, usegmt=True)

    if_none_match = request.headers.get("if-none-match")
    if if_none_match and _matches(if_none_match, etag):
        del headers["Content-Type"]
        return Response(status_code=304, headers=headers)

    range_header = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range.strip() != etag:
        range_header = None  # the client's copy is stale: send it all (strong comparison)
    try:
        span = parse_range(range_header, size)
    except RangeNotSatisfiable:
        return Response(
            status_code=416,
            headers={"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes", "ETag": etag},
        )

    if span is None:
        status, start, end = 200, 0, size - 1
    else:
        status, (start, end) = 206, span
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    length = end - start + 1 if size else 0
    headers["Content-Length"] = str(length)

    if request.method == "HEAD" or length == 0:
        return _HeadersOnly(status_code=status, headers=headers)
    return StreamingResponse(storage.stream(key, start, end), status_code=status, headers=headers)


class _HeadersOnly(Response):
    """A response whose ``Content-Length`` describes a body that is not sent (HEAD, empty)."""

    def __init__(self, status_code: int, headers: dict[str, str]):
        super().__init__(status_code=status_code)
        self.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
