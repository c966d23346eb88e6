"""``/console``: the web console's files (:mod:`kling_gateway.console`), same-origin, no CDN.

The pages are static; everything they show comes from the API with the key the user typed in,
so the console has no powers of its own. Not in the OpenAPI document, no authentication. A
Content-Security-Policy holds scripts, styles and API calls to this origin; media may come from
elsewhere (results in S3 are presigned URLs on the bucket's host).
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.responses import RedirectResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from ..console import STATIC_DIR

PATH = "/console"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src * data: blob:; media-src * blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


class _ConsoleFiles:
    """The static files with the console's security headers."""

    def __init__(self) -> None:
        self.files = StaticFiles(directory=STATIC_DIR, html=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
            await send(message)

        await self.files(scope, receive, send_with_headers)


def install(app: FastAPI) -> None:
    @app.get(PATH, include_in_schema=False)
    async def console_root() -> RedirectResponse:
        return RedirectResponse(PATH + "/")

    app.router.routes.append(Mount(PATH, _ConsoleFiles(), name="console"))
