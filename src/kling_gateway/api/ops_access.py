"""Who may read the ops endpoints (``ops_access``): ``/metrics``, ``/docs``, ``/redoc``,
``/openapi.json`` (with the docs assets) and ``/push/stats``.

``open``: anyone; ``account``: any valid API key or JWT; ``admin``: only ``admin_token``
(:func:`kling_gateway.admin_access.is_admin`); ``off``: nobody (404). ``/push/stats`` counts every
tenant's traffic, so it needs at least a valid key even when the rest is open."""

from __future__ import annotations

from ..admin_access import is_admin
from ..auth import Authenticator
from ..config import Settings
from ..errors import Code, KlingError

DOC_PATHS = ("/docs", "/redoc", "/openapi.json", "/docs-assets")
OPS_PATHS = ("/metrics", *DOC_PATHS, "/push/stats")
LEVELS = ("open", "account", "admin", "off")


_OPS_SUBPATHS = tuple(p + "/" for p in OPS_PATHS)


def is_ops_path(path: str) -> bool:
    return path in OPS_PATHS or path.startswith(_OPS_SUBPATHS)


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
