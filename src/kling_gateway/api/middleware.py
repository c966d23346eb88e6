"""Request ids: every response carries one, in the body's ``request_id`` and in ``X-Request-Id``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..ids import new_request_id


def request_id_of(request: Request) -> str:
    state = request.scope.setdefault("state", {})
    rid = state.get("request_id")
    if rid is None:
        rid = state["request_id"] = new_request_id()
    return rid


class RequestIdMiddleware:
    """Assigns the id early and makes sure the header is present even on framework errors."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        rid = state.setdefault("request_id", new_request_id())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    headers.append((b"x-request-id", rid.encode()))
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


class AssumeJsonMiddleware:
    """Kling bodies are JSON whatever the client labels them (curl -d sends a form type).

    POST bodies on API routes are parsed as JSON unless they say ``multipart/form-data``.
    """

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...] = ("/v1/", "/kling/v1/")):
        self.app = app
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].startswith(self.prefixes):
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            original = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
            if b"json" not in original.lower() and b"multipart" not in original.lower():
                scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        await self.app(scope, receive, send)
