"""The synchronous multi-elements selection calls (spec §8.4 steps 1–5): parse the body, call
:class:`~kling_gateway.sessions.SelectionService`, answer the envelope with signed file URLs."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..schemas import Envelope, InitSelectionRequest, SelectionPointsRequest, SessionRequest
from ..sessions import FrameMasks
from . import envelope
from .bodies import model_body
from .deps import authenticate, base_url_of, services_of
from .middleware import request_id_of
from .routes import Endpoint, Handler

PATH = "/videos/multi-elements"


def _masks(request: Request, found: FrameMasks) -> Response:
    res = {"frame_index": found.frame_index, "rle_mask_list": found.masks}
    return envelope.success({"status": 0, "session_id": found.session_id, "res": res}, request_id_of(request))


async def init_selection(request: Request) -> Response:
    account = await authenticate(request)
    body = await model_body(request, InitSelectionRequest)
    services = services_of(request)
    started = await services.selection.start(account.id, body.video_id, body.video_url)
    data = {
        "status": 0,
        "session_id": started.session_id,
        "final_unit_deduction": "0",
        **started.facts,
        "normalized_video": services.signer.url(started.normalized_video, base_url_of(request)),
    }
    return envelope.success(data, request_id_of(request))


async def add_selection(request: Request) -> Response:
    account = await authenticate(request)
    body = await model_body(request, SelectionPointsRequest)
    points = [p.model_dump() for p in body.points]
    found = await services_of(request).selection.add(account.id, body.session_id, body.frame_index, points)
    return _masks(request, found)


async def delete_selection(request: Request) -> Response:
    account = await authenticate(request)
    body = await model_body(request, SelectionPointsRequest)
    points = [p.model_dump() for p in body.points]
    found = await services_of(request).selection.delete(account.id, body.session_id, body.frame_index, points)
    return _masks(request, found)


async def clear_selection(request: Request) -> Response:
    account = await authenticate(request)
    body = await model_body(request, SessionRequest)
    session_id = await services_of(request).selection.clear(account.id, body.session_id)
    return envelope.success({"status": 0, "session_id": session_id, "res": {}}, request_id_of(request))


async def preview_selection(request: Request) -> Response:
    account = await authenticate(request)
    body = await model_body(request, SessionRequest)
    services = services_of(request)
    refs = await services.selection.preview(account.id, body.session_id)
    base = base_url_of(request)
    urls = {name: services.signer.url(ref, base) for name, ref in refs.items()}
    return envelope.success({"status": 0, "session_id": body.session_id, "res": urls}, request_id_of(request))


CALLS: tuple[
    tuple[str, Handler, type[InitSelectionRequest | SelectionPointsRequest | SessionRequest]], ...
] = (
    ("init-selection", init_selection, InitSelectionRequest),
    ("add-selection", add_selection, SelectionPointsRequest),
    ("delete-selection", delete_selection, SelectionPointsRequest),
    ("clear-selection", clear_selection, SessionRequest),
    ("preview-selection", preview_selection, SessionRequest),
)


def endpoints() -> list[Endpoint]:
    return [
        Endpoint(
            "POST",
            f"{PATH}/{name}",
            handler,
            name=name.replace("-", "_"),
            summary=f"Multi-elements: {name}",
            tag="videos",
            body=model,
            ok=Envelope,
        )
        for name, handler, model in CALLS
    ]
