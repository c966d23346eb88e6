"""Dependencies the routes share: the gateway object, the caller's account, the public base URL."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..gateway import Gateway
from ..store import AccountRow

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="A gateway API key, or a Kling JWT (HS256, iss = access key, signed with the secret key).",
)


def gateway_of(request: Request) -> Gateway:
    return request.app.state.gateway


async def current_account(
    request: Request, _credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)
) -> AccountRow:
    return await gateway_of(request).auth.authenticate(request.headers.get("authorization"))


def base_url_of(request: Request) -> str:
    configured = gateway_of(request).settings.public_base_url
    if configured:
        return configured.rstrip("/")
    scope = request.scope
    host = request.headers.get("host")
    if not host:  # HTTP/1.0 without Host: the address the server listens on
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}"
