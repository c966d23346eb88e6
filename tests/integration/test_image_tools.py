"""omni-image, multi-image2image and expand over HTTP (in process): results decoded and measured
(sizes, counts, series that differ, expand geometry with the original pixels unchanged in place),
query by id and external id on both layouts, list, and the 400/1201 of each broken rule."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from PIL import Image

from inprocess import App, in_process_app
from support import b64

pytestmark = pytest.mark.asyncio(loop_scope="module")


def picture(w: int, h: int, seed: int = 1) -> bytes:
    """Noise: every pixel differs, so "unchanged in place" is checked pixel by pixel."""
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def solid(w: int, h: int, color: tuple[int, int, int]) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, format="PNG")
    return b64(buf.getvalue())


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[App]:
    async with in_process_app(tmp_path_factory.mktemp("images")) as app:
        yield app


@pytest.mark.parametrize(
    ("ratios", "size"),
    [
        ({"up": 0.5, "down": 0.5, "left": 0.0, "right": 0.0}, (400, 600)),
        ({"up": 0.0, "down": 0.25, "left": 0.5, "right": 0.25}, (700, 375)),
    ],
)
async def test_expand_canvas_is_exactly_the_asked_ratios_with_the_original_in_place(
    app: App, ratios: dict[str, float], size: tuple[int, int]
) -> None:
    original = picture(400, 300)
    body = {"image": b64(original), "n": 2, **{f"{k}_expansion_ratio": v for k, v in ratios.items()}}
    done = await app.run("/v1/images/editing/expand", body)
    images = done["task_result"]["images"]
    assert [i["index"] for i in images] == [0, 1]
    source = decoded(original)
    outs = [decoded(await app.fetch(i["url"])) for i in images]
    x0, y0 = int(400 * ratios["left"]), int(300 * ratios["up"])
    for out in outs:
        assert (out.shape[1], out.shape[0]) == size
        assert np.array_equal(out[y0 : y0 + 300, x0 : x0 + 400], source)
    assert not np.array_equal(outs[0], outs[1])  # the new border differs between the n images


async def test_omni_image_single_n_and_query_list_both_layouts(app: App) -> None:
    body = {
        "prompt": "a poster with <<<image_1>>>",
        "image_list": [{"image": solid(600, 400, (220, 30, 30))}],
        "n": 2,
        "aspect_ratio": "3:2",
        "external_task_id": "oi-1",
    }
    done = await app.run("/kling/v1/images/omni-image", body)
    result = done["task_result"]
    assert result["result_type"] == "single" and len(result["images"]) == 2
    for item in result["images"]:
        out = decoded(await app.fetch(item["url"]))
        assert (out.shape[1], out.shape[0]) == (1248, 832)
        reds = (out[..., 0] > 180) & (out[..., 1] < 70) & (out[..., 2] < 70)
        assert reds.mean() > 0.02  # the reference image is in the picture
    for prefix in ("/v1", "/kling/v1"):
        for ident in (done["task_id"], "oi-1"):
            got = await app.http.get(f"{prefix}/images/omni-image/{ident}", headers=app.auth())
            assert got.json()["data"]["task_id"] == done["task_id"]
        listed = (await app.http.get(f"{prefix}/images/omni-image", headers=app.auth())).json()["data"]
        assert [t["task_id"] for t in listed] == [done["task_id"]]


async def test_omni_image_series_images_differ(app: App) -> None:
    body = {
        "model_name": "kling-v3-omni",
        "prompt": "four seasons",
        "result_type": "series",
        "series_amount": 3,
        "aspect_ratio": "1:1",
    }
    done = await app.run("/v1/images/omni-image", body)
    result = done["task_result"]
    assert result["result_type"] == "series" and "images" not in result
    outs = [decoded(await app.fetch(i["url"])) for i in result["series_images"]]
    assert len(outs) == 3 and all(o.shape == (1024, 1024, 3) for o in outs)
    assert all(not np.array_equal(a, b) for a, b in ((outs[0], outs[1]), (outs[1], outs[2])))


async def test_multi_image2image_places_every_subject(app: App) -> None:
    colors = [(220, 30, 30), (30, 60, 220)]
    body = {
        "subject_image_list": [{"subject_image": solid(400, 600, c)} for c in colors],
        "scene_image": solid(800, 450, (30, 160, 60)),
        "n": 1,
        "aspect_ratio": "16:9",
    }
    done = await app.run("/v1/images/multi-image2image", body)
    out = decoded(await app.fetch(done["task_result"]["images"][0]["url"]))
    assert (out.shape[1], out.shape[0]) == (1360, 768)
    left, right = out[:, : out.shape[1] // 2], out[:, out.shape[1] // 2 :]
    assert ((left[..., 0] > 180) & (left[..., 2] < 80)).mean() > 0.05
    assert ((right[..., 2] > 180) & (right[..., 0] < 80)).mean() > 0.05


async def test_multi_image2image_takes_kling_v2_the_older_documented_default(app: App) -> None:
    """kling-api.md §8.13 lists kling-v2 as the family's default, and clients written from it send
    it (the npm SDK kling-api does by default: docs/api.md, "Clients tested")."""
    body = {
        "model_name": "kling-v2",
        "subject_image_list": [{"subject_image": solid(300, 400, (220, 30, 30))}],
        "n": 2,
        "aspect_ratio": "4:3",
    }
    done = await app.run("/v1/images/multi-image2image", body)
    images = done["task_result"]["images"]
    assert [decoded(await app.fetch(i["url"])).shape[:2] for i in images] == [(880, 1168)] * 2
    assert float(done["final_unit_deduction"]) == 2 * 16  # the family's price per image


IMG = solid(400, 400, (90, 90, 90))
BAD: list[tuple[str, dict[str, Any], str]] = [
    (
        "images/editing/expand",
        {"image": IMG, "up_expansion_ratio": 0.1, "down_expansion_ratio": 0.1, "left_expansion_ratio": 0.1},
        "right_expansion_ratio",
    ),
    (
        "images/editing/expand",
        {
            "image": IMG,
            "up_expansion_ratio": 2.5,
            "down_expansion_ratio": 0,
            "left_expansion_ratio": 0,
            "right_expansion_ratio": 0,
        },
        "up_expansion_ratio",
    ),
    (
        "images/editing/expand",
        {
            "image": IMG,
            "up_expansion_ratio": 1,
            "down_expansion_ratio": 0,
            "left_expansion_ratio": 1,
            "right_expansion_ratio": 0,
        },
        "3×",
    ),
    (
        "images/editing/expand",
        {
            "image": IMG,
            "up_expansion_ratio": 0,
            "down_expansion_ratio": 0,
            "left_expansion_ratio": 0,
            "right_expansion_ratio": 0,
            "n": 10,
        },
        "n",
    ),
    (
        "images/editing/expand",
        {
            "image": solid(200, 200, (1, 2, 3)),
            "up_expansion_ratio": 0,
            "down_expansion_ratio": 0,
            "left_expansion_ratio": 0,
            "right_expansion_ratio": 0,
        },
        "image",
    ),
    ("images/omni-image", {"prompt": "x", "model_name": "kling-v2-1"}, "model_name"),
    ("images/omni-image", {"prompt": "x", "resolution": "4k"}, "resolution"),  # 4k: kling-v3-omni only
    ("images/omni-image", {"prompt": "x", "result_type": "series"}, "result_type"),
    (
        "images/omni-image",
        {"prompt": "x", "model_name": "kling-v3-omni", "aspect_ratio": "auto"},
        "aspect_ratio",
    ),
    (
        "images/omni-image",
        {"prompt": "x", "series_amount": 10, "model_name": "kling-v3-omni", "aspect_ratio": "1:1"},
        "series_amount",
    ),
    ("images/omni-image", {"prompt": "x", "image_list": [{"image": IMG}] * 11}, "images + elements"),
    ("images/omni-image", {"prompt": "x", "element_list": [{"element_id": 5}]}, "element_list[0].element_id"),
    ("images/omni-image", {"prompt": ""}, "prompt"),
    ("images/multi-image2image", {"subject_image_list": []}, "subject_image_list"),
    ("images/multi-image2image", {"subject_image_list": [{"subject_image": IMG}] * 5}, "subject_image_list"),
    (
        "images/multi-image2image",
        {"subject_image_list": [{"subject_image": IMG}], "aspect_ratio": "5:4"},
        "aspect_ratio",
    ),
    (
        "images/multi-image2image",
        {"subject_image_list": [{"subject_image": IMG}], "model_name": "kling-v3"},
        "model_name",
    ),
]


@pytest.mark.parametrize(("family", "body", "field"), BAD)
async def test_broken_rule_is_400_1201_and_stores_nothing(
    app: App, family: str, body: dict[str, Any], field: str
) -> None:
    before = (await app.http.get(f"/v1/{family}?pageSize=500", headers=app.auth(1))).json()["data"]
    response = await app.create(f"/v1/{family}", body, 1)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 1201 and field in response.json()["message"], response.text
    assert (await app.http.get(f"/v1/{family}?pageSize=500", headers=app.auth(1))).json()["data"] == before
