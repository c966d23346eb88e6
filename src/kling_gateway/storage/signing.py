"""Signed, expiring result URLs.

A stored task keeps ``storage:<key>``; each time the task is shown the API turns that into
``<base_url>/files/<key>?expires=<unix>&signature=<b64url HMAC-SHA256>``. The expiry is rounded
*up* to a bucket of ``ttl // 4`` seconds, so polling clients and caches see the same URL for a
while, and every URL still lives between ``ttl`` and ``1.25 × ttl`` seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from typing import TYPE_CHECKING
from urllib.parse import quote

from ..errors import GatewayError
from .base import Presigner

if TYPE_CHECKING:
    from ..config import Settings
    from .base import Storage

FILES_PREFIX = "/files/"
_DOMAIN = b"kling-gateway/files/v1\n"


class SignatureError(GatewayError, ValueError):
    """A result URL that must not be served: tampered/invalid, or expired."""

    def __init__(self, message: str, *, expired: bool = False):
        super().__init__(message)
        self.expired = expired


def _signature(key: str, expires: int, secret: str) -> str:
    mac = hmac.new(secret.encode(), _DOMAIN + key.encode() + b"\n" + str(expires).encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def expiry(ttl: int, now: float | None = None) -> int:
    """``now + ttl`` rounded up to the next multiple of ``max(1, ttl // 4)``."""
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    now = time.time() if now is None else now
    step = max(1, ttl // 4)
    return math.ceil((now + ttl) / step) * step


def signed_path(key: str, secret: str, ttl: int, now: float | None = None) -> str:
    """``/files/<key>?expires=…&signature=…`` for ``key``, valid for at least ``ttl`` seconds."""
    expires = expiry(ttl, now)
    return (
        f"{FILES_PREFIX}{quote(key, safe='/')}?expires={expires}&signature={_signature(key, expires, secret)}"
    )


def verify(
    key: str, expires: int | str | None, signature: str | None, secret: str, now: float | None = None
) -> None:
    """Accept a signed URL's parts or raise :class:`SignatureError`.

    The signature is checked first (constant time), so "expired" is only ever said of a URL
    this gateway really issued.
    """
    if not signature or expires is None:
        raise SignatureError("missing signature or expiry")
    try:
        expires_at = int(expires)
    except (TypeError, ValueError):
        raise SignatureError("invalid signature: malformed expiry") from None
    if not hmac.compare_digest(_signature(key, expires_at, secret).encode(), str(signature).encode()):
        raise SignatureError("invalid signature: the URL was altered or not issued by this gateway")
    if (time.time() if now is None else now) >= expires_at:
        raise SignatureError("signed URL expired", expired=True)


async def result_url(storage: Storage, key: str, settings: Settings, now: float | None = None) -> str:
    """The URL a client is given for a stored result.

    An S3 presigned URL when the back end can make one and ``storage_presign`` is set, else a
    gateway URL signed with :func:`signed_path` under ``settings.base_url()``.
    """
    ttl = settings.url_ttl_seconds
    if isinstance(storage, Presigner) and settings.storage_presign:
        return await storage.presigned_url(key, ttl)
    return settings.base_url() + signed_path(key, settings.secret(), ttl, now)
