"""audio/tts over HTTP (in process): the create call answers with the finished mp3, decoded and
measured; each broken rule is 400/1201 naming the field; no query or list routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from inprocess import App, in_process_app
from kling_gateway.media.probe import probe_av
from kling_gateway.media.speech import espeak_path
from support import require_service

pytestmark = pytest.mark.asyncio(loop_scope="module")

SHORT = "Hello there."
LONG = "Hello there. This sentence is a good deal longer, so the speech that comes back lasts longer too."


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[App]:
    require_service(espeak_path() is not None, "espeak-ng is not installed")
    async with in_process_app(tmp_path_factory.mktemp("tts")) as app:
        yield app


async def speak(app: App, prefix: str = "/v1", **body: Any) -> tuple[dict[str, Any], float]:
    response = await app.create(f"{prefix}/audio/tts", body)
    assert response.status_code == 200, response.text
    envelope = response.json()
    assert envelope["code"] == 0
    data = envelope["data"]
    assert data["task_status"] == "succeed" and data["task_status_msg"] == ""
    audio = data["task_result"]["audios"][0]
    assert audio["id"] == data["task_id"]  # the audio_id avatar and advanced lip-sync take
    info = probe_av(await app.fetch(audio["url"]))
    assert info.audio_codec in ("mp3", "mp3float") and info.video_codec is None
    assert abs(info.duration - float(audio["duration"])) <= 0.1
    return data, info.duration


async def test_speech_is_mp3_and_grows_with_text_on_both_layouts(app: App) -> None:
    _, short = await speak(app, text=SHORT, voice_id="oversea_male1", voice_language="en")
    _, long = await speak(app, "/kling/v1", text=LONG, voice_id="oversea_male1", voice_language="en")
    assert 0.3 < short < long and long > 2 * short


async def test_speed_shortens_and_chinese_voice_speaks(app: App) -> None:
    _, normal = await speak(app, text=LONG, voice_id="uk_man2", voice_language="en")
    _, fast = await speak(app, text=LONG, voice_id="uk_man2", voice_language="en", voice_speed=2.0)
    assert fast < 0.75 * normal
    _, zh = await speak(app, text="你好，欢迎使用。", voice_id="ai_shatang")  # voice_language defaults to zh
    assert zh > 0.5


async def test_out_of_range_speed_is_clamped_not_refused(app: App) -> None:
    _, clamped = await speak(app, text=LONG, voice_id="uk_man2", voice_language="en", voice_speed=5)
    _, fastest = await speak(app, text=LONG, voice_id="uk_man2", voice_language="en", voice_speed=2.0)
    assert abs(clamped - fastest) < 0.1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"voice_id": "oversea_male1", "voice_language": "en"}, "text"),
        ({"text": "x" * 1001, "voice_id": "oversea_male1", "voice_language": "en"}, "text"),
        ({"text": "   ", "voice_id": "oversea_male1", "voice_language": "en"}, "text"),
        ({"text": "hi", "voice_language": "en"}, "voice_id"),
        ({"text": "hi", "voice_id": "girlfriend_4_speech02", "voice_language": "en"}, "Voice id not found"),
        ({"text": "hi", "voice_id": "oversea_male1"}, "voice_language"),  # default zh ≠ the voice's en
        ({"text": "hi", "voice_id": "oversea_male1", "voice_language": "fr"}, "voice_language"),
        (
            {"text": "hi", "voice_id": "oversea_male1", "voice_language": "en", "voice_speed": "fast"},
            "voice_speed",
        ),
    ],
)
async def test_broken_rule_is_400_1201(app: App, body: dict[str, Any], field: str) -> None:
    response = await app.create("/v1/audio/tts", body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 1201 and field in response.json()["message"]


async def test_no_query_or_list(app: App) -> None:
    data, _ = await speak(app, text=SHORT, voice_id="oversea_male1", voice_language="en")
    assert (await app.http.get(f"/v1/audio/tts/{data['task_id']}", headers=app.auth())).status_code == 404
    assert (await app.http.get("/v1/audio/tts", headers=app.auth())).status_code != 200
