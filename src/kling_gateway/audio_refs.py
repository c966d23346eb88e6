"""``audio_id`` references: the speech of an ``audio/tts`` task of the same account.

The gateway's audio id is the TTS task's id; the audio can be reused for 30 days (spec more
§7.5). Another account's audio, an expired one and a missing one all read the same: absent.
"""

from __future__ import annotations

import json
from typing import Any

from .schemas.tasks import TaskStatus
from .store import TaskRow

TTS_FAMILY = "audio/tts"
AUDIO_TTL_MS = 30 * 24 * 3600 * 1000


def tts_audio(row: TaskRow | None, account_id: str, now: int) -> dict[str, Any] | None:
    """The ``audios[0]`` item (``{id, url, duration}``) of a usable audio id, else None."""
    if (
        row is None
        or row.account_id != account_id
        or row.family != TTS_FAMILY
        or row.status != TaskStatus.SUCCEED
    ):
        return None
    if now - (row.finished_at or row.created_at) > AUDIO_TTL_MS or row.files_expired_at:
        return None
    audios = (json.loads(row.result) if row.result else {}).get("audios") or []
    item = audios[0] if audios and isinstance(audios[0], dict) else None
    url = item.get("url") if item is not None else None
    return item if isinstance(url, str) and url else None


def tts_audio_url(row: TaskRow | None, account_id: str, now: int) -> str | None:
    """The stored mp3 (``storage:<key>`` or URL) of a usable audio id, else None."""
    item = tts_audio(row, account_id, now)
    return str(item["url"]) if item is not None else None
