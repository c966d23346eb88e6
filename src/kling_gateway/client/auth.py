"""Credentials: a static API key, or Kling's self-signed HS256 JWT (spec §2)."""

from __future__ import annotations

import time
from typing import Protocol

from .errors import MissingCredentialsError

JWT_TTL = 1800
REFRESH_MARGIN = 60


class Credentials(Protocol):
    def authorization(self) -> str:
        """The ``Authorization`` header value for the next request."""

    def renew(self) -> bool:
        """Forget a cached token after a 1004 (expired); ``True`` if a retry can help."""


class ApiKey:
    """A gateway/CometAPI key sent as ``Bearer``; nothing to renew."""

    def __init__(self, api_key: str):
        self.api_key = api_key

    def authorization(self) -> str:
        return f"Bearer {self.api_key}"

    def renew(self) -> bool:
        return False


class AccessKeyJWT:
    """Mints ``{iss: AK, exp: now+1800, nbf: now-5}`` and reuses it until ~60 s before expiry."""

    def __init__(
        self, access_key: str, secret_key: str, *, ttl: int = JWT_TTL, refresh_margin: float = REFRESH_MARGIN
    ):
        self.access_key = access_key
        self.secret_key = secret_key
        self.ttl = ttl
        self.refresh_margin = refresh_margin
        self._token: str | None = None
        self._expires_at = 0.0

    def authorization(self) -> str:
        now = time.time()
        if self._token is None or now >= self._expires_at - self.refresh_margin:
            # Imported late: kling_gateway.auth pulls in the server's store (SQLAlchemy).
            from ..tokens import mint_jwt

            self._token = mint_jwt(self.access_key, self.secret_key, ttl=self.ttl, now=now)
            self._expires_at = int(now) + self.ttl
        return f"Bearer {self._token}"

    def renew(self) -> bool:
        self._token = None
        return True


def credentials_from(api_key: str | None, access_key: str | None, secret_key: str | None) -> Credentials:
    """An API key wins when both schemes are configured."""
    if api_key:
        return ApiKey(api_key)
    if access_key and secret_key:
        return AccessKeyJWT(access_key, secret_key)
    if access_key or secret_key:
        raise MissingCredentialsError("access_key and secret_key must be given together")
    raise MissingCredentialsError(
        "no credentials: pass api_key=, or access_key= and secret_key= "
        "(or set KLING_API_KEY, or KLING_ACCESS_KEY and KLING_SECRET_KEY)"
    )
