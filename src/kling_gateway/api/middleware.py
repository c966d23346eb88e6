"""The one ASGI middleware in front of the routes (pure ASGI: no task or stream per request).

In order, for every HTTP request:

1. Request id: every response carries one, in the body's ``request_id`` and in ``X-Request-Id``
   (added here when a response lacks it, so even framework-level answers have it).
2. The edge guard (``api/guard.py``): a NUL byte in the path or query, or a declared body above
   the route's cap, is refused before anything else runs; a streamed body is counted.
3. Who may read the ops endpoints (``api/ops_access.py``).
4. Dispatch of the Kling route table: a request that one of the table's mounts (``/v1``,
   ``/kling/v1``) fully matches goes straight to its route, the same ``Route`` object the
   mount holds, with the app's exception handlers; the layers between here and the mount
   (FastAPI's exception and exit-stack middleware, its router) do nothing for these plain
   routes but cost a third of a cached query's CPU. Anything the table does not match (404,
   405, a redirect, every other route) takes the app's own path, unchanged.

Kling bodies are read as JSON whatever the client labels them (curl -d sends a form type) by the
handlers themselves (``api/bodies.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..auth import Authenticator
from ..config import Settings
from ..errors import KlingError
from ..ids import new_request_id
from . import guard, ops_access
from .envelope import error
from .routes import TableRouter

REQUEST_ID_HEADER = b"x-request-id"


def request_id_of(request: Request) -> str:
    state: dict[str, Any] = request.scope.setdefault("state", {})
    rid: str | None = state.get("request_id")
    if rid is None:
        rid = state["request_id"] = new_request_id()
    return rid


class GatewayMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings, auth: Authenticator, tables: Sequence[Mount] = ()):
        """``tables``: the mounts of the Kling route table (each over a :class:`TableRouter`)."""
        self.app = app
        self.settings = settings
        self.auth = auth
        self.tables = [(m.path + "/", m, m.app) for m in tables if isinstance(m.app, TableRouter)]
        self._handlers: tuple[dict[Any, Any], dict[int, Any]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        rid: str = state.setdefault("request_id", new_request_id())
        refusal = guard.refusal(scope, self.settings)
        if refusal is not None:
            await guard.refuse(send, refusal, rid)
            return
        path: str = scope.get("path", "")
        if ops_access.is_ops_path(path):
            try:
                await ops_access.check(path, _header(scope, b"authorization"), self.settings, self.auth)
            except KlingError as exc:
                await error(exc, rid)(scope, receive, send)
                return
        rid_bytes = rid.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                if not any(name.lower() == REQUEST_ID_HEADER for name, _ in headers):
                    message["headers"] = [*headers, (REQUEST_ID_HEADER, rid_bytes)]
            await send(message)

        limit = guard.body_limit(scope["method"], path, self.settings)
        picked = self._pick(scope, path)
        if picked is not None:
            route, child = picked
            scope.update(child)
            scope["starlette.exception_handlers"] = self._exception_handlers(scope)
            await route.handle(scope, guard.counted(receive, limit), send_with_id)
            return
        await self.app(scope, guard.counted(receive, limit), send_with_id)

    def _pick(self, scope: Scope, path: str) -> tuple[Any, Scope] | None:
        """The table route that fully matches, with the scope the mount and the route would
        give it; None when no table route does."""
        for prefix, mount, table in self.tables:
            if not path.startswith(prefix):
                continue
            match, child = mount.matches(scope)
            if match is not Match.FULL:
                return None
            inner = {**scope, **child}
            picked = table.pick(inner)
            if picked is None:
                return None
            route, route_scope = picked
            return route, {**child, **route_scope, "router": table, "route": route}
        return None

    def _exception_handlers(self, scope: Scope) -> tuple[dict[Any, Any], dict[int, Any]]:
        """The app's exception handlers as Starlette's ExceptionMiddleware hands them to a route."""
        if self._handlers is None:
            configured = scope["app"].exception_handlers
            self._handlers = (
                {k: v for k, v in configured.items() if not isinstance(k, int)},
                {k: v for k, v in configured.items() if isinstance(k, int)},
            )
        return self._handlers


def _header(scope: Scope, name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == name), None)
