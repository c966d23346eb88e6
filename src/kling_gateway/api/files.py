"""Serving result files at signed, expiring URLs (no Authorization needed: the URL is the grant)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from ..errors import Code, KlingError
from ..storage.serve import file_response
from ..storage.signing import SignatureError, verify
from .deps import services_of

router = APIRouter(tags=["files"])


async def get_file(request: Request, key: str) -> Response:
    services = services_of(request)
    try:
        verify(
            key,
            request.query_params.get("expires"),
            request.query_params.get("signature"),
            services.settings.secret(),
        )
    except SignatureError as exc:
        raise KlingError(Code.ACCOUNT_NO_PERMISSION, f"result link refused: {exc.message}") from None
    try:
        return await file_response(services.storage, key, request)
    except (FileNotFoundError, ValueError):
        raise KlingError(Code.RESOURCE_NOT_FOUND, "file does not exist or is past retention") from None


_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "1103: signature invalid or link expired"},
    404: {"description": "1203: file does not exist or is past retention"},
    206: {"description": "Partial content for a Range request"},
    416: {"description": "Range not satisfiable"},
}
router.add_api_route(
    "/files/{key:path}",
    get_file,
    methods=["GET"],
    name="get_file",
    summary="Download a result file (signed URL; supports Range)",
    responses=_RESPONSES,
)
router.add_api_route(
    "/files/{key:path}",
    get_file,
    methods=["HEAD"],
    name="head_file",
    summary="Result file headers",
    responses=_RESPONSES,
    include_in_schema=True,
)
