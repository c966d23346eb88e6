"""The built-in TTS voices (Kling's TTS voice guide, a subset): id -> (language, timbre).

``audio/tts`` accepts only these ids, in their own language; ids of the voice presets
(``general/presets-voices``) are a different catalogue and are refused ("Voice id not found").
"""

from __future__ import annotations

from typing import Literal

Timbre = Literal["male", "female", "child"]

TTS_VOICES: dict[str, tuple[str, Timbre]] = {
    # Chinese
    "genshin_vindi2": ("zh", "male"),
    "zhinen_xuesheng": ("zh", "child"),
    "ai_shatang": ("zh", "female"),
    "genshin_klee2": ("zh", "child"),
    "genshin_kirara": ("zh", "female"),
    "girlfriend_1_speech02": ("zh", "female"),
    "girlfriend_2_speech02": ("zh", "female"),
    "chat1_female_new-3": ("zh", "female"),
    "ai_huangyaoshi_712": ("zh", "male"),
    "you_pingjing": ("zh", "female"),
    "ai_laoguowang_712": ("zh", "male"),
    "chengshu_jiejie": ("zh", "female"),
    "zhuxi_speech02": ("zh", "male"),
    "dongbeilaotie_speech02": ("zh", "male"),
    # English
    "oversea_male1": ("en", "male"),
    "uk_boy1": ("en", "child"),
    "uk_man2": ("en", "male"),
    "uk_oldman3": ("en", "male"),
    "commercial_lady_en_f-v1": ("en", "female"),
    "reader_en_m-v1": ("en", "male"),
    "calm_story1": ("en", "female"),
    "AOT": ("en", "male"),
    "ai_kaiya": ("en", "female"),
    "cartoon-boy-07": ("en", "child"),
    "cartoon-girl-01": ("en", "child"),
}
