"""omni-video and motion-control over HTTP (in process): create, query by id and external id on
both layouts, list, the 400/1201 for each broken limit (nothing stored), foreign references."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from inprocess import App, in_process_app
from kling_gateway.media.probe import probe_av
from support import b64, png_bytes
from test_omni_motion_engine import video_file

PREFIXES = ("/v1", "/kling/v1")
IMAGE = b64(png_bytes(640, 480))


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[App]:
    async with in_process_app(tmp_path_factory.mktemp("omni")) as app:
        yield app


OMNI_OK: dict[str, Any] = {
    "prompt": "a cat <<<image_1>>> walks",
    "image_list": [{"image_url": IMAGE}],
    "aspect_ratio": "1:1",
    "mode": "std",
    "duration": "3",
    "model_name": "kling-v3-omni",
}


async def test_omni_create_query_list_both_layouts(app: App) -> None:
    body = {**OMNI_OK, "external_task_id": "omni-1"}
    done = await app.run("/v1/videos/omni-video", body)
    video = done["task_result"]["videos"][0]
    info = probe_av(await app.fetch(video["url"]))
    assert (info.width, info.height) == (960, 960)
    assert abs(info.duration - 3.0) <= 0.15 and info.audio_codec is None
    for prefix in PREFIXES:
        for ident in (done["task_id"], "omni-1"):
            got = await app.http.get(f"{prefix}/videos/omni-video/{ident}", headers=app.auth())
            assert got.status_code == 200 and got.json()["data"]["task_id"] == done["task_id"]
        listed = await app.http.get(f"{prefix}/videos/omni-video?pageSize=10", headers=app.auth())
        assert [t["task_id"] for t in listed.json()["data"]] == [done["task_id"]]
    foreign = await app.http.get(f"/v1/videos/omni-video/{done['task_id']}", headers=app.auth(1))
    assert foreign.status_code != 200
    assert (await app.http.get("/v1/videos/omni-video", headers=app.auth(1))).json()["data"] == []


async def test_motion_control_create_and_decode(app: App) -> None:
    motion = video_file(640, 360, 24, (0, 80), 80, audio=True)
    body = {
        "image_url": IMAGE,
        "video_url": b64(motion),
        "character_orientation": "video",
        "mode": "std",
        "external_task_id": "mc-1",
    }
    done = await app.run("/kling/v1/videos/motion-control", body)
    info = probe_av(await app.fetch(done["task_result"]["videos"][0]["url"]))
    assert (info.width, info.height) == (1280, 720)
    assert 3.0 <= info.duration <= 80 / 24 + 0.1 and info.audio_codec == "aac"
    got = await app.http.get("/v1/videos/motion-control/mc-1", headers=app.auth())
    assert got.json()["data"]["task_id"] == done["task_id"]


FIRST = {"image_url": IMAGE, "type": "first_frame"}
END = {"image_url": IMAGE, "type": "end_frame"}
VIDEO = [{"video_url": "https://example.com/v.mp4", "refer_type": "base"}]

OMNI_BAD = [
    ({"model_name": "kling-v9"}, "model_name"),
    ({"mode": "4k", "model_name": "kling-video-o1"}, "mode"),
    ({"sound": "on", "model_name": "kling-video-o1"}, "sound"),
    ({"sound": "on", "video_list": [{"video_url": "https://e.com/v.mp4", "refer_type": "feature"}]}, "sound"),
    ({"duration": "16"}, "duration"),
    ({"duration": "4", "model_name": "kling-video-o1", "image_list": []}, "duration"),
    ({"aspect_ratio": None, "image_list": []}, "aspect_ratio"),
    ({"aspect_ratio": "4:3"}, "aspect_ratio"),
    ({"prompt": ""}, "prompt"),
    ({"prompt": "x" * 2501}, "prompt"),
    ({"image_list": [END]}, "end_frame"),
    ({"image_list": [FIRST, FIRST]}, "first_frame"),
    ({"image_list": [FIRST], "video_list": VIDEO}, "base video"),
    ({"image_list": [{"image_url": IMAGE}] * 8}, "images + elements"),
    ({"image_list": [{"image_url": IMAGE}] * 5, "video_list": VIDEO}, "images + elements"),
    ({"video_list": VIDEO * 2}, "video_list"),
    ({"multi_shot": True}, "shot_type"),
    ({"multi_shot": True, "model_name": "kling-video-o1"}, "multi_shot"),
    (
        {
            "multi_shot": True,
            "shot_type": "customize",
            "multi_prompt": [{"index": 1, "prompt": "a", "duration": "2"}],
        },
        "multi_prompt",
    ),
    ({"image_list": [{"image_url": "not base64 !!"}]}, "image_list[0].image_url"),
    ({"element_list": [{"element_id": 12345}]}, "element_list[0].element_id"),
    ({"external_task_id": "  "}, "external_task_id"),
]

MOTION_OK = {
    "image_url": IMAGE,
    "video_url": "https://example.com/m.mp4",
    "character_orientation": "image",
    "mode": "std",
}
MOTION_BAD = [
    ({"image_url": None}, "image_url"),
    ({"video_url": None}, "video_url"),
    ({"character_orientation": None}, "character_orientation"),
    ({"character_orientation": "left"}, "character_orientation"),
    ({"mode": "4k"}, "mode"),
    ({"model_name": "kling-v2-1"}, "model_name"),
    ({"element_list": [{"element_id": 1}]}, "element_list"),  # kling-v2-6 takes none
    ({"model_name": "kling-v3", "element_list": [{"element_id": 1}, {"element_id": 2}]}, "element_list"),
    ({"model_name": "kling-v3", "element_list": [{"element_id": 777}]}, "element_list[0].element_id"),
    ({"keep_original_sound": "maybe"}, "keep_original_sound"),
]


def _body(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    body = {**base, **change}
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize(
    ("family", "base", "change", "field"),
    [
        *(("videos/omni-video", OMNI_OK, c, f) for c, f in OMNI_BAD),
        *(("videos/motion-control", MOTION_OK, c, f) for c, f in MOTION_BAD),
    ],
)
async def test_broken_limit_is_400_1201_naming_the_field_and_stores_nothing(
    app: App, family: str, base: dict[str, Any], change: dict[str, Any], field: str
) -> None:
    before = (await app.http.get(f"/v1/{family}?pageSize=500", headers=app.auth())).json()["data"]
    response = await app.create(f"/v1/{family}", _body(base, change))
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] == 1201 and field in error["message"], error
    after = (await app.http.get(f"/v1/{family}?pageSize=500", headers=app.auth())).json()["data"]
    assert after == before


async def test_valid_bodies_are_accepted(app: App) -> None:
    """The base bodies above are valid: each rejection is caused by its one change."""
    for family, body in (
        ("videos/omni-video", {**OMNI_OK, "prompt": "accept me", "duration": "5"}),
        ("videos/omni-video", {**OMNI_OK, "image_list": [FIRST, END], "aspect_ratio": None}),
    ):
        response = await app.create(f"/v1/{family}", {k: v for k, v in body.items() if v is not None})
        assert response.status_code == 200, response.text


NEW_MODEL = {
    "name": "kling-9.0-omni",
    "legacy_name": "kling-v9-omni",
    "offers": [
        {
            "family": "videos/omni-video",
            "standard": "legacy",
            "resolutions": ["720p"],
            "durations": {"min": 3, "max": 20},
            "audio": ["native", "off"],
            "prices": [{"units_per_second": 1.0}],
        }
    ],
}


async def test_a_config_only_model_is_validated_by_its_own_limits(tmp_path: Path) -> None:
    """One ``[[models]]`` entry, no code: accepted on the family, with its own durations and modes."""
    async with in_process_app(tmp_path, accounts=1, workers=0, models=[NEW_MODEL]) as app:
        base = {**OMNI_OK, "model_name": "kling-v9-omni"}
        accepted = await app.create("/v1/videos/omni-video", {**base, "duration": "20", "sound": "on"})
        assert accepted.status_code == 200, accepted.text
        for change, field in (({"duration": "21"}, "duration"), ({"mode": "pro"}, "mode")):
            refused = await app.create("/v1/videos/omni-video", {**base, **change})
            assert refused.status_code == 400 and field in refused.json()["message"], refused.text
        # the packaged models keep their own limits beside it
        o1 = await app.create(
            "/v1/videos/omni-video", {**base, "model_name": "kling-video-o1", "duration": "20"}
        )
        assert o1.status_code == 400 and "duration" in o1.json()["message"]
