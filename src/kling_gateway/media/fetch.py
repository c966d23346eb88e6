"""Inputs given as URL or Base64, turned into bytes safely.

URLs go through :func:`kling_gateway.httpclient.guarded_stream` (address guard on every hop,
deadline, size cap); anything else must be Base64 — standard or URL-safe alphabet, with or
without a ``data:<mime>;base64,`` prefix, whitespace and padding. Every failure is a
:class:`FetchError` whose message starts with the request field it concerns.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from typing import TYPE_CHECKING

from ..errors import FetchError, TransferError, UnsafeURLError
from ..httpclient import create_client, guarded_stream, human_size

if TYPE_CHECKING:
    import httpx

    from ..config import Settings

MiB = 1 << 20
KIND_MAX_BYTES: dict[str, int] = {"image": 10 * MiB, "audio": 5 * MiB, "video": 200 * MiB}

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DATA_PREFIX = re.compile(r"^data:[^,;]*(?:;[^,;]*)*;base64,", re.IGNORECASE)
_B64_BODY = re.compile(r"^[A-Za-z0-9+/\-_]*$")
_WHITESPACE = re.compile(r"\s+")
_URLSAFE_TO_STD = str.maketrans("-_", "+/")
# Base64 above this many characters is decoded in a worker thread, off the event loop.
_THREAD_THRESHOLD = 1 * MiB


def max_bytes_for(kind: str, settings: Settings) -> int:
    """The size cap for an input of ``kind`` ("image", "audio", "video")."""
    try:
        cap = KIND_MAX_BYTES[kind]
    except KeyError:
        raise ValueError(f"unknown input kind {kind!r}") from None
    return min(cap, settings.fetch_max_bytes)


def is_url(value: str) -> bool:
    """True for an http(s) URL (case-insensitive scheme, surrounding whitespace ignored)."""
    head = value.lstrip()[:8].lower()
    return head.startswith("http://") or head.startswith("https://")


def decode_base64_input(value: str, *, field: str, max_bytes: int) -> bytes:
    """Decode Base64 as clients send it, refusing data over ``max_bytes`` before decoding it."""
    body = _DATA_PREFIX.sub("", value.strip(), count=1)
    body = _WHITESPACE.sub("", body).rstrip("=")
    if not body:
        raise FetchError(f"{field}: is empty")
    if not _B64_BODY.match(body) or len(body) % 4 == 1:
        raise FetchError(f"{field}: not a URL and not valid Base64")
    if len(body) * 3 // 4 > max_bytes:
        raise FetchError(f"{field}: data exceeds {human_size(max_bytes)}")
    body = body.translate(_URLSAFE_TO_STD) + "=" * (-len(body) % 4)
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise FetchError(f"{field}: not a URL and not valid Base64") from None


async def fetch_input(
    value: str,
    *,
    field: str,
    kind: str,
    settings: Settings,
    client: httpx.AsyncClient | None = None,
) -> bytes:
    """The bytes of an input given as an http(s) URL or as Base64.

    ``kind`` selects the size cap (see :func:`max_bytes_for`). ``client`` should come from
    :func:`kling_gateway.httpclient.create_client` (guarded); one is made and closed when omitted.
    """
    max_bytes = max_bytes_for(kind, settings)
    if not isinstance(value, str):
        raise FetchError(f"{field}: must be a string")
    if is_url(value):
        return await _download(
            value.strip(), field=field, max_bytes=max_bytes, settings=settings, client=client
        )
    if _SCHEME.match(value.lstrip()):
        raise FetchError(f"{field}: only http and https URLs are allowed")
    if len(value) > _THREAD_THRESHOLD:
        return await asyncio.to_thread(decode_base64_input, value, field=field, max_bytes=max_bytes)
    return decode_base64_input(value, field=field, max_bytes=max_bytes)


async def _download(
    url: str, *, field: str, max_bytes: int, settings: Settings, client: httpx.AsyncClient | None
) -> bytes:
    own = client is None
    http = create_client(settings) if client is None else client
    try:
        return await guarded_stream(http, "GET", url, settings, max_bytes=max_bytes, field=field)
    except UnsafeURLError as exc:
        raise FetchError(str(exc)) from None
    except TransferError as exc:
        raise FetchError(exc.message, retryable=exc.retryable) from None
    finally:
        if own:
            await http.aclose()
