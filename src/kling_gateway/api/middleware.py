"""The one ASGI middleware in front of the routes.

Request ids: every response carries one, in the body's ``request_id`` and in ``X-Request-Id``
(added here too, so even framework-level errors have it). Kling bodies are read as JSON whatever
the client labels them (curl -d sends a form type) by the handlers themselves (``api/bodies.py``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..ids import new_request_id


def request_id_of(request: Request) -> str:
    state: dict[str, Any] = request.scope.setdefault("state", {})
    rid: str | None = state.get("request_id")
    if rid is None:
        rid = state["request_id"] = new_request_id()
    return rid


class GatewayMiddleware:
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
                headers = message.get("headers", [])
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    message["headers"] = [*headers, (b"x-request-id", rid.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)
