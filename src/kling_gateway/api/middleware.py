"""The one ASGI middleware in front of the app (pure ASGI: no task or stream per request).

It is the outermost layer: :class:`~kling_gateway.api.app.GatewayApp` wraps the whole stack
FastAPI builds (server-error, telemetry and body-limit middleware included) in it, so a table
route's request passes through no other layer.

In order, for every HTTP request:

1. Request id: every response carries one, in the body's ``request_id`` and in ``X-Request-Id``
   (added here when a response lacks it, so even framework-level answers have it: to a table
   handler's response object, to the start message of anything else).
2. The edge guard (``api/guard.py``): a NUL byte in the path or query, or a declared body above
   the route's cap, is refused before anything else runs; a streamed body is counted.
3. Who may read the ops endpoints (``api/ops_access.py``).
4. Dispatch of the Kling route table: a request that one of the table's mounts (``/v1``,
   ``/kling/v1``) fully matches is answered here by its route's handler, the endpoint of the
   same ``Route`` object the mount holds, called as a plain ``handler(request) -> Response``
   with the app's exception handlers (:meth:`GatewayMiddleware._answer`). This is the only path
   a table route's requests take: the layers between here and the handler (FastAPI's
   server-error, telemetry, body-limit, exception and exit-stack middleware, its router, the
   mount, Starlette's per-request wrapping in ``request_response``) do nothing for these plain
   routes but cost more than half of a cached query's CPU. Anything the table does not match
   (404, 405, a redirect, every other route) takes the app's own path, unchanged.

Kling bodies are read as JSON whatever the client labels them (curl -d sends a form type) by the
handlers themselves (``api/bodies.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..auth import Authenticator
from ..config import Settings
from ..ids import new_request_id
from . import guard, ops_access
from .routes import TableIndex

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
        self.table = TableIndex(tables)
        self.prefixes = tuple(m.path + "/" for m in tables)
        self._handlers: tuple[dict[Any, Any], dict[int, Any]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        rid: str = state.setdefault("request_id", new_request_id())
        path: str = scope.get("path", "")
        limit = guard.body_limit(scope["method"], path, self.settings)
        refusal = guard.refusal(scope, limit)
        if refusal is not None:
            await guard.refuse(send, refusal, rid)
            return
        if ops_access.is_ops_path(path):
            try:
                await ops_access.check(path, _header(scope, b"authorization"), self.settings, self.auth)
            except Exception as exc:  # a refusal, or the store failing while it checks a key
                request = Request(scope, receive, send)
                await self._send(await self._handled(request, exc), scope, receive, send, rid)
                return
        picked = self.table.pick(scope) if path.startswith(self.prefixes) else None
        if picked is not None:
            route, child = picked
            scope.update(child)
            await self._answer(route.endpoint, scope, guard.counted(receive, limit), send, rid)
            return
        rid_bytes = rid.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                if not any(name.lower() == REQUEST_ID_HEADER for name, _ in headers):
                    message["headers"] = [*headers, (REQUEST_ID_HEADER, rid_bytes)]
            await send(message)

        await self.app(scope, guard.counted(receive, limit), send_with_id)

    async def _answer(self, endpoint: Any, scope: Scope, receive: Receive, send: Send, rid: str) -> None:
        """A table handler's answer, or the app's exception handler's for what it raised (as
        Starlette's ``request_response`` would give; the table's handlers are all ``async``, checked
        by :func:`~kling_gateway.api.routes.mount`). An exception while the response is sent (a
        stream, once it started) goes up to the server, which closes the connection: what
        Starlette's server-error middleware does once a response has started."""
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request)
        except Exception as exc:
            response = await self._handled(request, exc)
        await self._send(response, scope, receive, send, rid)

    async def _handled(self, request: Request, exc: Exception) -> Response:
        """The app's exception handler's answer to ``exc`` (every exception has one: the app
        installs a handler for ``Exception``); re-raised where none is installed."""
        handler = self._handler_for(request.scope, exc)
        if handler is None:
            raise exc
        response: Response = await handler(request, exc)
        exc.__traceback__ = None  # a reused exception instance would keep its tracebacks
        return response

    @staticmethod
    async def _send(response: Response, scope: Scope, receive: Receive, send: Send, rid: str) -> None:
        if not any(name == REQUEST_ID_HEADER for name, _ in response.raw_headers):  # names are lower case
            response.raw_headers.append((REQUEST_ID_HEADER, rid.encode()))
        await response(scope, receive, send)

    def _handler_for(self, scope: Scope, exc: Exception) -> Any:
        """The app's handler for ``exc``: by status for an HTTP exception, else by class."""
        by_class, by_status = self._exception_handlers(scope)
        if isinstance(exc, HTTPException) and exc.status_code in by_status:
            return by_status[exc.status_code]
        return next((by_class[cls] for cls in type(exc).__mro__ if cls in by_class), None)

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
