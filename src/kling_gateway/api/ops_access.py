"""Who may read the ops endpoints (``ops_access``): ``/metrics``, ``/docs``, ``/redoc``,
``/openapi.json`` (with the docs assets) and ``/push/stats``.

``open``: anyone; ``account``: any valid API key or JWT; ``admin``: only ``admin_token``
(:func:`kling_gateway.admin_access.is_admin`); ``off``: nobody (404). ``/push/stats`` counts every
tenant's traffic, so it needs at least a valid key even when the rest is open."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from ..admin_access import is_admin
from ..auth import Authenticator
from ..config import Settings
from ..errors import Code, KlingError
from ..ids import new_request_id
from .envelope import error

DOC_PATHS = ("/docs", "/redoc", "/openapi.json", "/docs-assets")
OPS_PATHS = ("/metrics", *DOC_PATHS, "/push/stats")
LEVELS = ("open", "account", "admin", "off")


def is_ops_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in OPS_PATHS)


def level_for(path: str, setting: str) -> str:
    if path == "/push/stats" and setting == "open":
        return "account"
    return setting


async def check(path: str, authorization: str | None, settings: Settings, auth: Authenticator) -> None:
    """Raise the envelope error for a refused ops request; return when it may go on."""
    level = level_for(path, settings.ops_access)
    if level == "open":
        return
    if level == "off":
        raise KlingError(Code.RESOURCE_NOT_FOUND, f"{path} is turned off on this gateway (ops_access = off)")
    if level == "admin":
        if not authorization:
            raise KlingError(Code.AUTH_HEADER_EMPTY, f"{path} needs the admin token (Authorization: Bearer)")
        if not is_admin(authorization, settings.admin_token):
            raise KlingError(Code.ACCOUNT_NO_PERMISSION, f"{path} is for the operator only (admin token)")
        return
    if is_admin(authorization, settings.admin_token):
        return
    await auth.authenticate(authorization)


class OpsAccessMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings, auth: Authenticator):
        self.app = app
        self.settings = settings
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_ops_path(scope.get("path", "")):
            header = next(
                (v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"authorization"), None
            )
            try:
                await check(scope["path"], header, self.settings, self.auth)
            except KlingError as exc:
                rid = scope.setdefault("state", {}).setdefault("request_id", new_request_id())
                await error(exc, rid)(scope, receive, send)
                return
        await self.app(scope, receive, send)
