"""The one ASGI middleware in front of the routes.

- Request ids: every response carries one, in the body's ``request_id`` and in ``X-Request-Id``
  (added here too, so even framework-level errors have it).
- Kling bodies are JSON whatever the client labels them (curl -d sends a form type): POST bodies
  on API routes are parsed as JSON unless they say ``multipart/form-data``.

One middleware rather than two: each layer costs a coroutine hop on every request of the hot path.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..ids import new_request_id

API_PREFIXES = ("/v1/", "/kling/v1/")


def request_id_of(request: Request) -> str:
    state = request.scope.setdefault("state", {})
    rid = state.get("request_id")
    if rid is None:
        rid = state["request_id"] = new_request_id()
    return rid


def _as_json(scope: Scope) -> Scope:
    original = b""
    headers = []
    for name, value in scope["headers"]:
        if name == b"content-type":
            original = value
        else:
            headers.append((name, value))
    lowered = original.lower()
    if b"json" in lowered or b"multipart" in lowered:
        return scope
    return {**scope, "headers": [*headers, (b"content-type", b"application/json")]}


class GatewayMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "POST" and scope["path"].startswith(API_PREFIXES):
            scope = _as_json(scope)
        state = scope.setdefault("state", {})
        rid = state.setdefault("request_id", new_request_id())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    message["headers"] = [*headers, (b"x-request-id", rid.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)
