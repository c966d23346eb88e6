"""The baseline: a bare Starlette app on the gateway's uvicorn settings, answering from memory.

GET (any path) returns the captured gateway body; POST parses the JSON body and returns the
captured create body. Same content type and ``x-request-id`` header as the gateway sends.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_HEADERS = {"x-request-id": "00000000-0000-4000-8000-000000000000"}


def build_app(get_body: bytes, post_body: bytes) -> Starlette:
    async def healthz(_request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    async def get(_request: Request) -> Response:
        return Response(get_body, media_type="application/json", headers=_HEADERS)

    async def post(request: Request) -> Response:
        await request.json()
        return Response(post_body, media_type="application/json", headers=_HEADERS)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/{path:path}", get, methods=["GET"]),
            Route("/{path:path}", post, methods=["POST"]),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--get-body", type=Path, required=True)
    parser.add_argument("--post-body", type=Path, required=True)
    args = parser.parse_args()
    app = build_app(args.get_body.read_bytes(), args.post_body.read_bytes())
    # exactly what `kling-gateway serve` passes to uvicorn
    uvicorn.run(
        app, host=args.host, port=args.port, log_level="warning", proxy_headers=True, server_header=False
    )


if __name__ == "__main__":
    main()
