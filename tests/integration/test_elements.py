"""Elements over HTTP (in process, spec more §7.7): create from images or a video (stored
references decoded), query by id and external id on both layouts, list own, presets, delete;
each broken rule is 400/1201 naming the field with nothing stored; element ids work in omni-video
(the element's frontal image shows in the frames) and are refused once deleted or when foreign."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from PIL import Image

from inprocess import App, in_process_app
from kling_gateway.element_refs import PRESETS
from kling_gateway.engines.reference.refstrip import strip_boxes
from kling_gateway.media.probe import probe_av
from support import b64
from test_omni_motion_engine import RED, mean_in, solid, video_file
from test_reference_engine import frames_of

pytestmark = pytest.mark.asyncio(loop_scope="module")

PATH = "/general/advanced-custom-elements"
PREFIXES = ("/v1", "/kling/v1")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[App]:
    async with in_process_app(tmp_path_factory.mktemp("elements"), accounts=3) as app:
        yield app


def image_body(**extra: Any) -> dict[str, Any]:
    return {
        "element_name": "Red hero",
        "element_description": "A red character",
        "reference_type": "image_refer",
        "element_image_list": {
            "frontal_image": solid(RED, 600, 400),
            "refer_images": [{"image_url": solid((30, 60, 220), 400, 400)}],
        },
        "tag_list": [{"tag_id": "o_102"}],
        **extra,
    }


async def make_element(app: App, account: int = 0, **extra: Any) -> dict[str, Any]:
    done = await app.run(f"/v1{PATH}", image_body(**extra), account)
    element: dict[str, Any] = done["task_result"]["elements"][0]
    return element


async def own_list(app: App, account: int, prefix: str = "/v1") -> list[str]:
    listed = await app.http.get(f"{prefix}{PATH}?pageSize=100", headers=app.auth(account))
    assert listed.status_code == 200, listed.text
    return [t["task_id"] for t in listed.json()["data"]]


def decoded_image(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


async def test_image_element_create_query_list_both_layouts(app: App) -> None:
    done = await app.run(f"/kling/v1{PATH}", image_body(external_task_id="el-1"))
    element = done["task_result"]["elements"][0]
    assert element["element_id"] == int(done["task_id"]) and element["status"] == "succeed"
    assert (element["element_name"], element["reference_type"]) == ("Red hero", "image_refer")
    assert element["tag_list"] == [{"tag_id": "o_102"}] and element["owned_by"] == "user"
    frontal = decoded_image(await app.fetch(element["element_image_list"]["frontal_image"]))
    assert frontal.size == (600, 400)
    assert np.abs(np.asarray(frontal).reshape(-1, 3).mean(0) - RED).max() < 3
    (angle,) = element["element_image_list"]["refer_images"]
    assert decoded_image(await app.fetch(angle["image_url"])).size == (400, 400)
    for prefix in PREFIXES:
        for ident in (done["task_id"], "el-1"):
            got = await app.http.get(f"{prefix}{PATH}/{ident}", headers=app.auth())
            assert got.status_code == 200 and got.json()["data"]["task_id"] == done["task_id"]
        assert done["task_id"] in await own_list(app, 0, prefix)
    foreign = await app.http.get(f"/v1{PATH}/{done['task_id']}", headers=app.auth(1))
    assert foreign.status_code == 404
    assert done["task_id"] not in await own_list(app, 1)


async def test_video_element_keeps_its_reference_video(app: App) -> None:
    clip = video_file(640, 360, 24, (0, 96), 96)  # 4 s
    body = {
        "element_name": "Walker",
        "element_description": "A walking figure",
        "reference_type": "video_refer",
        "element_video_list": {"refer_videos": [{"video_url": b64(clip)}]},
    }
    done = await app.run(f"/v1{PATH}", body)
    element = done["task_result"]["elements"][0]
    assert element["element_image_list"] is None
    info = probe_av(await app.fetch(element["element_video_list"]["refer_videos"][0]["video_url"]))
    assert (info.width, info.height) == (640, 360) and abs(info.duration - 4.0) <= 0.1


async def test_too_short_reference_video_fails_naming_it(app: App) -> None:
    clip = video_file(640, 360, 24, (0, 48), 48)  # 2 s < 3 s
    body = {
        "element_name": "Short",
        "element_description": "too short",
        "reference_type": "video_refer",
        "element_video_list": {"refer_videos": [{"video_url": b64(clip)}]},
    }
    created = await app.create(f"/v1{PATH}", body)
    assert created.status_code == 200, created.text
    done = await app.wait(f"/v1{PATH}", created.json()["data"]["task_id"])
    assert done["task_status"] == "failed"
    assert "element_video_list.refer_videos[0].video_url" in done["task_status_msg"]


BAD: list[tuple[dict[str, Any], str]] = [
    ({"element_name": None}, "element_name"),
    ({"element_name": "x" * 21}, "element_name"),
    ({"element_description": "x" * 101}, "element_description"),
    ({"reference_type": "audio_refer"}, "reference_type"),
    ({"element_image_list": None}, "element_image_list"),
    ({"reference_type": "video_refer"}, "element_video_list"),
    (
        {
            "element_image_list": {
                "frontal_image": solid(RED),
                "refer_images": [{"image_url": solid(RED)}] * 4,
            }
        },
        "element_image_list.refer_images",
    ),
    (
        {"element_image_list": {"frontal_image": solid(RED), "refer_images": []}},
        "element_image_list.refer_images",
    ),
    (
        {
            "element_image_list": {
                "frontal_image": solid(RED, 200, 200),
                "refer_images": [{"image_url": solid(RED)}],
            }
        },
        "element_image_list.frontal_image",
    ),
    (
        {
            "element_image_list": {
                "frontal_image": solid(RED),
                "refer_images": [{"image_url": solid(RED, 1000, 300)}],
            }
        },
        "element_image_list.refer_images[0].image_url",
    ),
    ({"tag_list": [{"tag_id": "o_999"}]}, "tag_list"),
]


@pytest.mark.parametrize(("change", "field"), BAD)
async def test_broken_rules_are_1201_naming_the_field_and_store_nothing(
    app: App, change: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in {**image_body(), **change}.items() if v is not None}
    before = await own_list(app, 2)
    response = await app.create(f"/v1{PATH}", body, account=2)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] == 1201 and field in error["message"], error
    assert await own_list(app, 2) == before


async def test_presets_list_and_page(app: App) -> None:
    for prefix in PREFIXES:
        got = await app.http.get(f"{prefix}/general/advanced-presets-elements", headers=app.auth())
        assert got.status_code == 200
        elements = [t["task_result"]["elements"][0] for t in got.json()["data"]]
        assert [e["element_id"] for e in elements] == [p["element_id"] for p in PRESETS]
        assert all(e["owned_by"] == "kling" and e["status"] == "succeed" for e in elements)
    page = await app.http.get(
        "/v1/general/advanced-presets-elements?pageNum=2&pageSize=4", headers=app.auth()
    )
    assert [t["task_id"] for t in page.json()["data"]] == [str(p["element_id"]) for p in PRESETS[4:8]]
    bad = await app.http.get("/v1/general/advanced-presets-elements?pageSize=0", headers=app.auth())
    assert bad.status_code == 400 and "pageSize" in bad.json()["message"]


OMNI: dict[str, Any] = {
    "prompt": "<<<element_1>>> walks",
    "aspect_ratio": "16:9",
    "mode": "std",
    "duration": "3",
    "model_name": "kling-v3-omni",
}


async def test_own_element_shows_in_omni_video_and_foreign_reads_as_missing(app: App) -> None:
    element = await make_element(app)
    body = {**OMNI, "element_list": [{"element_id": element["element_id"]}]}
    done = await app.run("/v1/videos/omni-video", body)
    data = await app.fetch(done["task_result"]["videos"][0]["url"])
    info = probe_av(data)
    assert info.width is not None and info.height is not None
    (box,) = strip_boxes(1, [(600, 400)], (info.width, info.height))
    for frame in (frames_of(data)[0], frames_of(data)[-1]):
        assert np.abs(mean_in(frame, box) - RED).max() < 25
    foreign = await app.create("/v1/videos/omni-video", body, account=1)
    assert foreign.status_code == 400
    assert foreign.json()["code"] == 1201 and "element_list[0].element_id" in foreign.json()["message"]
    preset = {**OMNI, "element_list": [{"element_id": PRESETS[0]["element_id"]}]}
    assert (await app.run("/v1/videos/omni-video", preset, account=1))["task_status"] == "succeed"


async def test_delete_marks_deleted_and_refuses_later_use(app: App) -> None:
    element = await make_element(app)
    element_id = element["element_id"]
    for who, target in ((1, element_id), (0, PRESETS[0]["element_id"]), (0, 123)):
        refused = await app.http.post(
            "/v1/general/delete-advanced-elements", json={"element_id": target}, headers=app.auth(who)
        )
        assert refused.status_code == 400 and refused.json()["code"] == 1201
        assert "element_id" in refused.json()["message"]
    body = {**OMNI, "element_list": [{"element_id": element_id}]}
    assert (await app.create("/v1/videos/omni-video", body)).status_code == 200  # still usable
    deleted = await app.http.post(
        "/kling/v1/general/delete-elements", json={"element_id": element_id}, headers=app.auth()
    )
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["data"]["task_status"] == "succeed"
    got = await app.http.get(f"/v1{PATH}/{element_id}", headers=app.auth())
    assert got.json()["data"]["task_result"]["elements"][0]["status"] == "deleted"
    again = await app.http.post(
        "/v1/general/delete-advanced-elements", json={"element_id": str(element_id)}, headers=app.auth()
    )
    assert again.status_code == 400
    after = await app.create("/v1/videos/omni-video", body)
    assert after.status_code == 400 and "element_list[0].element_id" in after.json()["message"]


async def test_sdk_creates_lists_presets_and_deletes(app: App) -> None:
    from kling_gateway.client import AsyncKlingClient, PollPolicy

    poll = PollPolicy(long_poll=5, interval=0.1, max_interval=0.5)
    async with AsyncKlingClient(
        str(app.http.base_url), api_key=app.keys[2], poll=poll, http_client=app.http
    ) as kling:
        created = await kling.create_element(image_body(element_name="SDK hero"))
        task = await kling.wait(created)
        record = task.task_result.model_dump()["elements"][0]  # an open model keeps ``elements``
        assert record["element_name"] == "SDK hero" and record["element_id"] == int(created.task_id)
        frontal = decoded_image(await app.fetch(record["element_image_list"]["frontal_image"]))
        assert frontal.size == (600, 400)
        presets = await kling.preset_elements(page_size=2)
        assert [p.task_id for p in presets] == [str(p["element_id"]) for p in PRESETS[:2]]
        assert (await kling.delete_element(record["element_id"]))["task_status"] == "succeed"
    got = await app.http.get(f"/v1{PATH}/{created.task_id}", headers=app.auth(2))
    assert got.json()["data"]["task_result"]["elements"][0]["status"] == "deleted"
