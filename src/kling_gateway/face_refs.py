"""``session_id`` references of advanced lip-sync: an ``identify-face`` task of the same account.

The gateway's face session id is the identify-face task's id (as an ``audio_id`` is the TTS
task's id): the finished task holds the faces and the parent video, and a session lives 24 h
(spec §8.6.2). Multi-elements selection sessions (``sessions.py``) are another thing: mutable
click state in their own table; a face session never changes, so its task row is the record.
Another account's session, an expired one and a missing one all read the same: absent.
"""

from __future__ import annotations

import json
from typing import Any

from .schemas.faces import IDENTIFY_FACE, MIN_CLIP_MS
from .schemas.tasks import TaskStatus
from .store import TaskRow

SESSION_TTL_MS = 24 * 3600 * 1000


def missing_face_session(session_id: str) -> str:
    """The words for an unknown, foreign or expired face session (after ``session_id: ``)."""
    return f"face session '{session_id}' does not exist or expired (identify-face sessions last 24 h)"


def face_session(row: TaskRow | None, account_id: str, now: int) -> dict[str, Any] | None:
    """The identify-face record behind a usable session id: ``{session_id, face_data,
    parent_video, engine, upstream_session}``, else None."""
    if (
        row is None
        or row.account_id != account_id
        or row.family != IDENTIFY_FACE
        or row.status != TaskStatus.SUCCEED
        or not row.result
    ):
        return None
    if now - (row.finished_at or row.created_at) > SESSION_TTL_MS:
        return None
    result = json.loads(row.result)
    info = json.loads(row.info_extra) if row.info_extra else {}
    return {
        "session_id": row.id,
        "face_data": result.get("face_data") or [],
        "parent_video": info.get("parent_video") or {},
        "engine": row.engine,
        "upstream_session": row.upstream_task_id,
    }


def seconds_of(value: Any) -> float:
    """A duration as Kling writes it (``"5.1"``) in seconds; 0 when unreadable."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def check_face_choice(session: dict[str, Any], choice: dict[str, Any], audio_ms: int | None) -> str | None:
    """What is wrong with one ``face_choose`` item against its session (and the audio's length
    in ms, when known), as ``<field>: <problem>``; None when it fits (spec §8.6.3)."""
    faces = {str(face.get("face_id")): face for face in session["face_data"]}
    face = faces.get(str(choice.get("face_id")))
    if face is None:
        known = ", ".join(sorted(faces)) or "none"
        return (
            f"face_choose[0].face_id: face '{choice.get('face_id')}' is not in the session (faces: {known})"
        )
    start, end = int(choice["sound_start_time"]), int(choice["sound_end_time"])
    insert = int(choice["sound_insert_time"])
    clip = end - start
    if audio_ms is not None and end > audio_ms:
        return f"face_choose[0].sound_end_time: {end} ms is past the end of the audio ({audio_ms} ms)"
    video_ms = int(round(seconds_of(session["parent_video"].get("duration")) * 1000))
    if video_ms and insert + clip > video_ms:
        return (
            f"face_choose[0].sound_insert_time: the clip would end at {insert + clip} ms, "
            f"past the end of the video ({video_ms} ms)"
        )
    overlap = min(insert + clip, int(face["end_time"])) - max(insert, int(face["start_time"]))
    if overlap < MIN_CLIP_MS:
        return (
            f"face_choose[0].sound_insert_time: the inserted audio overlaps face "
            f"'{face['face_id']}' ({face['start_time']}–{face['end_time']} ms) by {max(0, overlap)} ms, "
            f"less than {MIN_CLIP_MS} ms"
        )
    return None
