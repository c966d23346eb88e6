"""The voice calls beside the family's create/query/list (spec more §7.6): the preset voices
and delete. A custom voice is made, queried and listed on ``general/custom-voices`` itself."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import invalid_parameter
from ..schemas import TaskStatus
from ..schemas.tasks import Envelope
from ..schemas.voices import DeleteVoiceRequest
from ..voice_refs import PresetVoice, preset_trial
from . import envelope
from .bodies import json_body
from .deps import authenticate, base_url_of, services_of
from .middleware import request_id_of
from .routes import Endpoint
from .tasks import VOICE_LIST_PARAMETERS


class VoiceListEnvelope(Envelope):
    data: list[dict[str, Any]]


class DeletedVoiceEnvelope(Envelope):
    data: dict[str, Any]


def _preset_task(voice: PresetVoice, trial_url: str) -> dict[str, Any]:
    """A preset in the shape of a finished creation task, so one parser reads both lists."""
    record = {"voice_id": voice.voice_id, "voice_name": voice.voice_name, "trial_url": trial_url}
    return {
        "task_id": voice.voice_id,
        "task_status": TaskStatus.SUCCEED.value,
        "task_status_msg": "",
        "task_result": {"voices": [{**record, "owned_by": "kling"}]},
        "created_at": 0,
        "updated_at": 0,
    }


async def list_presets(request: Request) -> Response:
    await authenticate(request)
    services = services_of(request)
    query = request.query_params
    presets = services.tasks.preset_voices(query.get("pageNum"), query.get("pageSize"))
    base = base_url_of(request)
    data = []
    for voice in presets:
        trial = services.signer.url(await preset_trial(services.storage, voice), base)
        data.append(_preset_task(voice, trial))
    return envelope.success(data, request_id_of(request))


async def delete_voice(request: Request) -> Response:
    account = await authenticate(request)
    body = await json_body(request)
    if not isinstance(body, dict) or body.get("voice_id") in (None, ""):
        raise invalid_parameter("voice_id: is required")
    row = await services_of(request).tasks.delete_voice(account, body["voice_id"])
    return envelope.success(
        {"task_id": row.id, "task_status": TaskStatus.SUCCEED.value}, request_id_of(request)
    )


def endpoints() -> list[Endpoint]:
    return [
        Endpoint(
            "GET",
            "/general/presets-voices",
            list_presets,
            name="list_preset_voices",
            summary="List the preset voices (each with a trial mp3)",
            tag="general",
            ok=VoiceListEnvelope,
            parameters=VOICE_LIST_PARAMETERS,
        ),
        Endpoint(
            "POST",
            "/general/delete-voices",
            delete_voice,
            name="delete_voice",
            summary="Delete a custom voice of this account",
            tag="general",
            body=DeleteVoiceRequest,
            ok=DeletedVoiceEnvelope,
        ),
    ]
