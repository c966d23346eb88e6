"""The request a channel receives: the client's body with the gateway's ids in place.

* ``callback_url`` of the client is dropped; the gateway's own per-task callback URL goes
  instead (when the channel calls back).
* ``external_task_id`` becomes ``kg-<gateway task id>``: unique per upstream account, and the
  handle that finds the upstream task again after a crash in the middle of a create call.
* ``video_id`` references (extend, lip-sync, video-to-audio) are translated to the upstream's
  video id and pin the task to the channel that made the video. A video the gateway made itself
  is sent as a signed ``video_url`` where the family accepts one.
* An ``audio_id`` (avatar) names a TTS audio the gateway holds, so it goes out as a signed
  ``sound_file`` URL: any channel can take it, whoever made the speech.
* Advanced lip-sync: the identify-face session pins the task to the channel that made it and
  its upstream session id goes instead of ours; ``face_choose[].audio_id`` goes as ``sound_file``.
* A voice or element id (``voice_list[].voice_id``, ``element_voice_id``,
  ``element_list[].element_id``, the new standard's ``contents[].element_id`` and
  ``contents[].voice_id``) made upstream is translated to the upstream's id and pins the
  task to the channel that made it; a preset id passes unchanged; one the gateway made itself
  cannot be used upstream (the task fails naming the field).
* Multi-elements: the local selection session is re-created on the pinned channel
  (init-selection + add-selection replayed) right before the create call.
Every pin goes through :func:`_pin`, which keeps the reference that pinned (for the messages of
``RelayCore._eligible``: the pinned channel must still exist and serve the task).
Media given as URL or Base64 passes through unchanged.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from ...config import Settings
from ...errors import TaskFailure
from ...present import UrlSigner
from ..base import EngineContext, EngineTask, VideoRecord
from .callbacks import callback_url
from .channels import ChannelConfig
from .upstream import ChannelDown, UpstreamClient

EXTERNAL_PREFIX = "kg-"
# family -> (path of the video id field, path of the alternative URL field or None)
VIDEO_REFERENCES: dict[str, tuple[tuple[str, ...], tuple[str, ...] | None]] = {
    "videos/video-extend": (("video_id",), None),
    "videos/lip-sync": (("input", "video_id"), ("input", "video_url")),
    "audio/video-to-audio": (("video_id",), ("video_url",)),
    "videos/identify-face": (("video_id",), ("video_url",)),
    "general/custom-voices": (("video_id",), ("voice_url",)),
}
ADVANCED_LIP_SYNC = "videos/advanced-lip-sync"

# Where a request names a voice or an element: (list field, id field, kind); a None list field
# is a top-level id field.
RESOURCE_REFERENCES: tuple[tuple[str | None, str, str], ...] = (
    ("element_list", "element_id", "element"),
    ("voice_list", "voice_id", "voice"),
    (None, "element_voice_id", "voice"),
    ("contents", "element_id", "element"),  # the new standard's contents[] items (§3.2)
    ("contents", "voice_id", "voice"),
)

Path = tuple[str | int, ...]

# family -> the field that takes the audio file instead of an audio_id
AUDIO_REFERENCES: dict[str, tuple[str, ...]] = {"videos/avatar/image2video": ("sound_file",)}


def external_id(task_id: str) -> str:
    return EXTERNAL_PREFIX + task_id


@dataclass
class Prepared:
    body: dict[str, Any]
    pinned: str | None = None  # channel that must take the task (it made a referenced resource)
    pinned_by: str = ""  # the reference that pinned it, as "<field>: <kind> '<id>'" (for messages)
    parent: VideoRecord | None = None
    parent_upstream_task: str | None = None
    session: Any = None  # SelectionSession for multi-elements
    swaps: list[tuple[Path, Any]] = field(default_factory=list)  # path -> upstream value


def _get(body: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = body
    for part in path:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _set(body: dict[str, Any], path: Path, value: Any) -> None:
    node: Any = body
    for part in path[:-1]:
        node = node[part] if isinstance(part, int) else node.setdefault(part, {})
    node[path[-1]] = value


def _resource_refs(body: dict[str, Any]) -> list[tuple[Path, str, Any]]:
    """Every voice/element id the body names: (path, kind, value)."""
    found: list[tuple[Path, str, Any]] = []
    for list_field, id_field, kind in RESOURCE_REFERENCES:
        if list_field is None:
            if body.get(id_field) not in (None, ""):
                found.append(((id_field,), kind, body[id_field]))
            continue
        items = body.get(list_field)
        for i, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, dict) and item.get(id_field) not in (None, ""):
                found.append(((list_field, i, id_field), kind, item[id_field]))
    return found


def _pin(prepared: Prepared, channel: str, what: str) -> None:
    """Pin the task to ``channel`` because of ``what`` (the one path for every reference kind)."""
    if prepared.pinned is not None and prepared.pinned != channel:
        raise TaskFailure(
            f"{what} was made on channel '{channel}' but the task is pinned to '{prepared.pinned}' "
            "by another reference: no one upstream holds both"
        )
    if prepared.pinned is None:
        prepared.pinned, prepared.pinned_by = channel, what


async def _translate_resources(prepared: Prepared, ctx: EngineContext) -> None:
    """Voice and element ids made upstream → the upstream's ids, pinned to their channel."""
    for path, kind, value in _resource_refs(prepared.body):
        origin = await ctx.resource_origin(str(value), kind)
        if origin is None:
            continue  # a preset (the create-time check found it), passed on unchanged
        channel, upstream_id = origin
        field_name = ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[")
        if channel is None or upstream_id is None:
            raise TaskFailure(
                f"{field_name}: {kind} '{value}' was made by this gateway, not by an upstream channel, "
                "so no upstream can use it"
            )
        _pin(prepared, channel, f"{field_name}: {kind} '{value}'")
        upstream: Any = upstream_id
        if isinstance(value, int) and upstream_id.isdigit():
            upstream = int(upstream_id)  # element ids travel as numbers when the client sent one
        prepared.swaps.append((path, upstream))


def _pop(body: dict[str, Any], path: tuple[str, ...]) -> None:
    node = _get(body, path[:-1]) if len(path) > 1 else body
    if isinstance(node, dict):
        node.pop(path[-1], None)


async def prepare(
    task: EngineTask, ctx: EngineContext, settings: Settings, signer: UrlSigner, upstream_task_of: Any
) -> Prepared:
    """Resolve references once per run (before a channel is chosen)."""
    body = copy.deepcopy(task.request)
    body.pop("callback_url", None)
    body.pop("external_task_id", None)
    prepared = Prepared(body=body)
    ref = VIDEO_REFERENCES.get(task.family)
    if ref is not None:
        id_path, url_path = ref
        video_id = _get(body, id_path)
        if video_id:
            record = await ctx.resolve_video(str(video_id), field=".".join(id_path))
            prepared.parent = record
            if record.channel and record.upstream_video_id:
                _pin(prepared, record.channel, f"{'.'.join(id_path)}: video '{video_id}'")
                prepared.swaps.append((id_path, record.upstream_video_id))
                prepared.parent_upstream_task = await upstream_task_of(record.task_id)
            elif url_path is not None:
                _pop(body, id_path)
                _set(body, url_path, signer.url(record.url, settings.base_url()))
            else:
                raise TaskFailure(
                    f"{'.'.join(id_path)}: video '{video_id}' was not made by an upstream channel, "
                    "so no upstream can extend it"
                )
    if body.get("audio_id") and task.family in AUDIO_REFERENCES:
        url = await ctx.resolve_audio(str(body.pop("audio_id")), field="audio_id")
        _set(body, AUDIO_REFERENCES[task.family], signer.url(url, settings.base_url()))
    if task.family == ADVANCED_LIP_SYNC:
        await _face_session_upstream(prepared, ctx, settings, signer)
    await _translate_resources(prepared, ctx)
    if task.family == "videos/multi-elements":
        session = await ctx.selection_session(str(body.get("session_id")), field="session_id")
        prepared.session = session
        video = session.video
        if video is not None and video.channel and video.upstream_video_id:
            _pin(prepared, video.channel, f"session_id: the selection session's video '{video.video_id}'")
            prepared.parent_upstream_task = await upstream_task_of(video.task_id)
    return prepared


async def _face_session_upstream(
    prepared: Prepared, ctx: EngineContext, settings: Settings, signer: UrlSigner
) -> None:
    """Advanced lip-sync: the identify-face session lives on the channel that made it (pinned,
    its session id swapped in); a TTS ``audio_id`` goes out as a signed ``sound_file`` URL."""
    body = prepared.body
    session = await ctx.face_session(str(body.get("session_id") or ""), field="session_id")
    if not session.get("upstream_session") or not session.get("engine"):
        raise TaskFailure(
            f"session_id: face session '{session['session_id']}' was made by this gateway's own "
            "engine, so no upstream channel knows it"
        )
    _pin(prepared, str(session["engine"]), f"session_id: face session '{session['session_id']}'")
    prepared.swaps.append((("session_id",), str(session["upstream_session"])))
    for k, choice in enumerate(body.get("face_choose") or []):
        if isinstance(choice, dict) and choice.get("audio_id"):
            url = await ctx.resolve_audio(str(choice.pop("audio_id")), field=f"face_choose[{k}].audio_id")
            choice["sound_file"] = signer.url(url, settings.base_url())


def apply_swaps(prepared: Prepared) -> dict[str, Any]:
    """The prepared body with the upstream's ids in place."""
    body = copy.deepcopy(prepared.body)
    for path, value in prepared.swaps:
        _set(body, path, value)
    return body


async def outbound(
    prepared: Prepared,
    channel: ChannelConfig,
    client: UpstreamClient,
    task: EngineTask,
    settings: Settings,
    signer: UrlSigner,
) -> dict[str, Any]:
    """The body sent to ``channel`` (may make the synchronous multi-elements calls first)."""
    body = apply_swaps(prepared)
    comet = channel.type == "cometapi"
    if comet and task.family == "videos/lip-sync" and prepared.parent_upstream_task and prepared.swaps:
        _set(body, ("input", "task_id"), prepared.parent_upstream_task)  # spec §13: parent task id
    body["external_task_id"] = external_id(task.task_id)
    if channel.callbacks:
        base = channel.callback_base_url or settings.base_url()
        body["callback_url"] = callback_url(base, settings.secret(), task.task_id)
    if prepared.session is not None:
        body["session_id"] = await _replay_session(prepared, client, comet, settings, signer)
    return body


async def _replay_session(
    prepared: Prepared, client: UpstreamClient, comet: bool, settings: Settings, signer: UrlSigner
) -> str:
    session = prepared.session
    video = session.video
    init: dict[str, Any]
    if video is not None and video.channel == client.channel.name and video.upstream_video_id:
        init = {"video_id": video.upstream_video_id}
        if comet and prepared.parent_upstream_task:
            init["task_id"] = prepared.parent_upstream_task
    else:
        init = {"video_url": signer.url(session.video_url, settings.base_url())}
    data = await client.post_sync("videos/multi-elements/init-selection", init)
    upstream_session = data.get("session_id")
    if data.get("status", 0) != 0 or not upstream_session:
        raise ChannelDown(5000, "upstream refused to open a selection session")
    for selection in session.selections:
        await client.post_sync(
            "videos/multi-elements/add-selection",
            {
                "session_id": upstream_session,
                "frame_index": selection["frame_index"],
                "points": selection["points"],
            },
        )
    return str(upstream_session)
