"""``voice_id`` references (spec more §7.6): a custom voice of the caller's account, or a preset.

A custom voice's id is the id of the ``general/custom-voices`` task that made it; the voice is
live while its ``resources`` row (kind ``voice``, written when the task succeeded) is not
deleted. Another account's voice, a deleted one, a failed creation and a missing id all read
the same: absent. Presets (``PRESETS``) are shared by every account and cannot be deleted; their
trial audio is speech rendered once and kept in the result storage (``PRESET_TRIAL_PREFIX``).

The TTS voice guide (``oversea_male1``, …) is a different catalogue: these ids are not TTS ids.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from .engines.base import STORAGE_SCHEME
from .schemas.voices import VOICES
from .storage import Storage
from .store import TaskRow, TaskStore

VOICE = "voice"  # the resources kind
PRESET_TRIAL_PREFIX = "presets/voices/"


@dataclass(frozen=True)
class PresetVoice:
    voice_id: str
    voice_name: str
    language: str  # "en" | "zh": what the trial is spoken in
    timbre: str  # espeak-ng variant group: male, female, child
    line: str  # what the trial says

    @property
    def trial_key(self) -> str:
        return f"{PRESET_TRIAL_PREFIX}{self.voice_id}.mp3"


PRESETS: tuple[PresetVoice, ...] = (
    PresetVoice("900000000000000201", "Calm narrator", "en", "male", "Hello, I am the calm narrator."),
    PresetVoice("900000000000000202", "Bright host", "en", "female", "Hi there, welcome to the show."),
    PresetVoice("900000000000000203", "Young explorer", "en", "child", "Let us go and find the treasure."),
    PresetVoice("900000000000000204", "温和男声", "zh", "male", "你好，我是温和的男声。"),
    PresetVoice("900000000000000205", "清亮女声", "zh", "female", "大家好，欢迎收听。"),
)


def preset(voice_id: str) -> PresetVoice | None:
    return next((p for p in PRESETS if p.voice_id == voice_id), None)


def is_voice_task(row: TaskRow | None, account_id: str) -> bool:
    return row is not None and row.account_id == account_id and row.family == VOICES


async def voice_exists(store: TaskStore, voice_id: str, account_id: str) -> bool:
    """A preset, or a live custom voice of ``account_id`` (the one check of every reference)."""
    if preset(voice_id) is not None:
        return True
    return await store.resources.live(voice_id, VOICE, account_id) is not None


# Families whose videos always carry a soundtrack a voice can be cloned from.
VOICED_FAMILIES = frozenset({"videos/avatar/image2video", "videos/lip-sync", "videos/advanced-lip-sync"})


def video_has_voice(task: TaskRow | None) -> bool:
    """Whether the task that made a video gave it an audio track: an avatar or lip-sync video,
    or one generated with ``sound: on`` (kling-v2-6 and later)."""
    if task is None:
        return False
    return task.family in VOICED_FAMILIES or task.request_body.get("sound") == "on"


async def preset_trial(storage: Storage, voice: PresetVoice) -> str:
    """The ``storage:`` reference of a preset's trial mp3, rendered on first use and kept (two
    processes rendering it at once write the same bytes)."""
    if await storage.stat(voice.trial_key) is None:
        from .engines.reference.voice_families import preset_trial_mp3  # PyAV, espeak-ng

        data = await asyncio.to_thread(
            preset_trial_mp3, voice.voice_id, voice.language, voice.timbre, voice.line
        )
        await storage.put_bytes(voice.trial_key, data, "audio/mpeg")
    return STORAGE_SCHEME + voice.trial_key
