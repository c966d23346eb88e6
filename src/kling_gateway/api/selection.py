"""The synchronous multi-elements selection calls (spec §8.4 steps 1–5).

A session remembers its normalised source video (in storage) and the clicked point groups;
the multi-elements task later reads both. Masks and previews are computed off the event loop.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from ..engines.base import STORAGE_SCHEME, TaskFailure, storage_ref
from ..errors import invalid_parameter
from ..ids import now_ms
from ..media.fetch import FetchError, fetch_input
from ..schemas import InitSelectionRequest, SelectionPointsRequest, SessionRequest
from ..store import AccountRow
from . import envelope
from .deps import base_url_of, current_account, gateway_of
from .middleware import request_id_of
from .tasks import ERROR_RESPONSES

SESSION_TTL_MS = 24 * 3600 * 1000
PATH = "/videos/multi-elements"


def _selection_module():  # PyAV and numpy are only loaded when a selection call is made
    from ..engines.reference import selection

    return selection


async def _session_or_error(request: Request, account: AccountRow, session_id: str) -> dict[str, Any]:
    found = await gateway_of(request).tasks.session(session_id, account.id)
    if found is None or found["expires_at"] < now_ms():
        raise invalid_parameter(f"session_id: selection session '{session_id}' does not exist or expired")
    return found


async def _session_video(request: Request, session: dict[str, Any]) -> bytes:
    key = session["video_url"][len(STORAGE_SCHEME) :]
    return await gateway_of(request).storage.read_bytes(key)


async def init_selection(
    request: Request, body: InitSelectionRequest = Body(...), account: AccountRow = Depends(current_account)
) -> Response:
    gateway = gateway_of(request)
    try:
        if body.video_id:
            video = await gateway.tasks.video(body.video_id, account.id)
            if video is None:
                raise invalid_parameter(f"video_id: video '{body.video_id}' does not exist for this account")
            url = video["url"]
            data = (
                await gateway.storage.read_bytes(url[len(STORAGE_SCHEME) :])
                if url.startswith(STORAGE_SCHEME)
                else await fetch_input(url, field="video_id", kind="video", settings=gateway.settings)
            )
        else:
            data = await fetch_input(
                str(body.video_url), field="video_url", kind="video", settings=gateway.settings
            )
        facts = await asyncio.to_thread(_selection_module().analyze, data, strict=True)
    except (FetchError, TaskFailure) as exc:
        raise invalid_parameter(str(exc)) from None
    session_id = "sess_" + secrets.token_hex(10)
    key = f"sessions/{session_id}/normalized.mp4"
    await gateway.storage.put_bytes(key, facts.pop("normalized_video"), "video/mp4")
    info = {
        "fps": facts["fps"],
        "width": facts["width"],
        "height": facts["height"],
        "duration": facts["original_duration"] / 1000,
        "total_frame": facts["total_frame"],
    }
    now = now_ms()
    await gateway.tasks.insert_session(
        {
            "id": session_id,
            "account_id": account.id,
            "video_id": body.video_id,
            "video_url": storage_ref(key),
            "info": json.dumps(info),
            "selections": "[]",
            "created_at": now,
            "expires_at": now + SESSION_TTL_MS,
        }
    )
    data_out = {
        "status": 0,
        "session_id": session_id,
        "final_unit_deduction": "0",
        **facts,
        "normalized_video": gateway.signer.url(storage_ref(key), base_url_of(request)),
    }
    return envelope.success(data_out, request_id_of(request))


def _check_frame(session: dict[str, Any], frame_index: int) -> None:
    total = json.loads(session["info"])["total_frame"]
    if frame_index >= total:
        raise invalid_parameter(f"frame_index: {frame_index} is past the last frame ({total - 1})")


async def _masks_response(
    request: Request, session: dict[str, Any], frame_index: int, selections: list[dict[str, Any]]
) -> Response:
    points = [p for s in selections if s["frame_index"] == frame_index for p in s["points"]]
    masks: list[dict[str, Any]] = []
    if points:
        video = await _session_video(request, session)
        masks = await asyncio.to_thread(_selection_module().segment, video, frame_index, points)
    res = {"frame_index": frame_index, "rle_mask_list": masks}
    return envelope.success({"status": 0, "session_id": session["id"], "res": res}, request_id_of(request))


async def add_selection(
    request: Request, body: SelectionPointsRequest = Body(...), account: AccountRow = Depends(current_account)
) -> Response:
    session = await _session_or_error(request, account, body.session_id)
    _check_frame(session, body.frame_index)
    selections = json.loads(session["selections"])
    selections.append({"frame_index": body.frame_index, "points": [p.model_dump() for p in body.points]})
    await gateway_of(request).tasks.update_session(session["id"], selections)
    return await _masks_response(request, session, body.frame_index, selections)


async def delete_selection(
    request: Request, body: SelectionPointsRequest = Body(...), account: AccountRow = Depends(current_account)
) -> Response:
    session = await _session_or_error(request, account, body.session_id)
    selections = json.loads(session["selections"])
    wanted = {"frame_index": body.frame_index, "points": [p.model_dump() for p in body.points]}
    if wanted not in selections:
        raise invalid_parameter("points: no selection with exactly these points on this frame")
    selections.remove(wanted)
    await gateway_of(request).tasks.update_session(session["id"], selections)
    return await _masks_response(request, session, body.frame_index, selections)


async def clear_selection(
    request: Request, body: SessionRequest = Body(...), account: AccountRow = Depends(current_account)
) -> Response:
    session = await _session_or_error(request, account, body.session_id)
    await gateway_of(request).tasks.update_session(session["id"], [])
    return envelope.success({"status": 0, "session_id": session["id"], "res": {}}, request_id_of(request))


async def preview_selection(
    request: Request, body: SessionRequest = Body(...), account: AccountRow = Depends(current_account)
) -> Response:
    gateway = gateway_of(request)
    session = await _session_or_error(request, account, body.session_id)
    selections = json.loads(session["selections"])
    if not selections:
        raise invalid_parameter("session_id: add a selection before previewing")
    video = await _session_video(request, session)
    preview, cover, tracking = await asyncio.to_thread(_selection_module().preview, video, selections)
    stamp = now_ms()
    base = base_url_of(request)
    urls = {}
    for name, data, kind, ctype in (
        ("video", preview, "mp4", "video/mp4"),
        ("video_cover", cover, "png", "image/png"),
        ("tracking_output", tracking, "mp4", "video/mp4"),
    ):
        key = f"sessions/{session['id']}/preview-{stamp}-{name}.{kind}"
        await gateway.storage.put_bytes(key, data, ctype)
        urls[name] = gateway.signer.url(storage_ref(key), base)
    return envelope.success({"status": 0, "session_id": session["id"], "res": urls}, request_id_of(request))


def build_router() -> APIRouter:
    router = APIRouter(tags=["videos"])
    for name, handler in (
        ("init-selection", init_selection),
        ("add-selection", add_selection),
        ("delete-selection", delete_selection),
        ("clear-selection", clear_selection),
        ("preview-selection", preview_selection),
    ):
        router.add_api_route(
            f"{PATH}/{name}",
            handler,
            methods=["POST"],
            name=name.replace("-", "_"),
            summary=f"Multi-elements: {name}",
            responses=ERROR_RESPONSES,
        )
    return router
