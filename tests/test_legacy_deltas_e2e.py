"""The §8 deltas of kling-api-more.md to the families the gateway served first, end to end
against a real kling-gateway process over loopback (SQLite; the one subprocess of this module):

- ``kling-v3`` text2video/image2video: ``mode: 4k`` renders 3840×2160, durations 3–15 s (15 s
  decodes as 15 s ± 0.1), multi-shot cuts fall where ``multi_prompt`` puts them (seen in the
  pixels), ``element_list`` elements show as thumbnails; prices from the catalogue.
- ``images/generations`` defaults to ``kling-v3`` (8 units/image), ``kling-v2-1`` costs 4 / 8,
  ``resolution: 2k`` has the 2k size.
- ``watermark_info.enabled`` gives every media item a ``watermark_url`` whose pixels carry the
  badge where the clean file has none; records echo ``watermark_info``, ``final_unit_deduction``
  and ``final_balance_deduction``.
- Every documented limit broken is 400/1201 naming the field, with nothing stored; a foreign or
  missing element reads the same.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from integration.test_elements import image_body
from kling_gateway.engines.reference.refstrip import strip_boxes
from kling_gateway.engines.reference.watermark import badge_box
from kling_gateway.media.probe import probe_av, probe_image
from support import Account, GatewayProcess, b64, png_bytes, wait_for_task
from test_omni_motion_engine import mean_in
from test_reference_engine import frames_of

PREFIXES = ("/v1", "/kling/v1")
T2V, I2V, IMAGES = "videos/text2video", "videos/image2video", "images/generations"
ELEMENTS = "general/advanced-custom-elements"
UNIT_PRICE = Decimal("0.14")  # models.toml unit_list_price


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    with GatewayProcess(tmp_path_factory.mktemp("deltas")) as running:
        yield running


def funded(server: GatewayProcess, name: str) -> Account:
    """An account with video and image packs, so every charge is the ledger's."""
    account = server.create_account(name)
    for package in ("video", "image"):
        server.cli("packs", "grant", account.account_id, "--units", "500", "--package", package)
    return account


@pytest.fixture(scope="module")
def account(server: GatewayProcess) -> Account:
    return funded(server, "deltas")


@pytest.fixture(scope="module")
def stranger(server: GatewayProcess) -> Account:
    return funded(server, "stranger")


@pytest.fixture()
def http(server: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        yield client


def run(http: httpx.Client, account: Account, family: str, body: dict[str, Any], prefix: str = "/v1") -> dict:
    created = http.post(f"{prefix}/{family}", json=body, headers=account.bearer)
    assert created.status_code == 200, created.text
    done = wait_for_task(http, f"{prefix}/{family}", created.json()["data"]["task_id"], account.bearer, 180)
    assert done["task_status"] == "succeed", done
    return done


def fetch(http: httpx.Client, url: str) -> bytes:
    response = http.get(url)
    assert response.status_code == 200, response.text
    return response.content


def money(units: str) -> str:
    return format((Decimal(units) * UNIT_PRICE).normalize(), "f")


def assert_charge(record: dict[str, Any], units: str) -> None:
    assert record["final_unit_deduction"] == units
    assert record["final_balance_deduction"] == {"quota": "0", "list_price": money(units)}


# ---- kling-v3 video -------------------------------------------------------------------------


def test_kling_v3_4k_renders_at_4k_and_costs_3_units_a_second(http: httpx.Client, account: Account) -> None:
    done = run(
        http,
        account,
        T2V,
        {"prompt": "a lighthouse", "model_name": "kling-v3", "mode": "4k", "duration": "3"},
    )
    video = done["task_result"]["videos"][0]
    info = probe_av(fetch(http, video["url"]))
    assert (info.width, info.height) == (3840, 2160)
    assert abs(info.duration - 3.0) <= 0.1
    assert_charge(done, "9")  # 3 units/s × 3 s (models.toml, kling-3.0 4k)
    assert done["watermark_info"] == {"enabled": False}
    assert "watermark_url" not in video  # no watermarked copy asked for: the key is left out


def test_kling_v3_15_seconds(http: httpx.Client, account: Account) -> None:
    done = run(
        http, account, T2V, {"prompt": "a river", "model_name": "kling-v3", "duration": 15}, "/kling/v1"
    )
    info = probe_av(fetch(http, done["task_result"]["videos"][0]["url"]))
    assert abs(info.duration - 15.0) <= 0.1
    assert (info.width, info.height) == (1280, 720)
    assert_charge(done, "9")  # 0.6 units/s × 15 s (720p, silent)


def frame_jumps(frames: list[np.ndarray]) -> np.ndarray:
    """Mean absolute change from each frame to the next (index i: frame i → i+1)."""
    small = [f[::8, ::8].astype(np.int16) for f in frames]
    return np.array([np.abs(b - a).mean() for a, b in zip(small, small[1:], strict=False)])


def test_multi_shot_cuts_where_multi_prompt_says_and_watermark_copy(
    http: httpx.Client, account: Account
) -> None:
    body = {
        "model_name": "kling-v3",
        "duration": "4",
        "multi_shot": True,
        "shot_type": "customize",
        "multi_prompt": [
            {"index": 1, "prompt": "a red barn", "duration": "1"},
            {"index": 2, "prompt": "a blue sea", "duration": "2"},
            {"index": 3, "prompt": "a green hill", "duration": "1"},
        ],
        "watermark_info": {"enabled": True},
    }
    done = run(http, account, T2V, body)
    video = done["task_result"]["videos"][0]
    clean, marked = fetch(http, video["url"]), fetch(http, video["watermark_url"])
    frames = frames_of(clean)
    jumps = frame_jumps(frames)
    fps = 24
    cuts = sorted(int(i) + 1 for i in np.argsort(jumps)[-2:])  # the two hardest cuts
    assert cuts == [1 * fps, 3 * fps]  # after shot 1 (1 s) and shot 2 (1 + 2 s)
    calm = np.delete(jumps, [c - 1 for c in cuts])
    assert jumps[cuts[0] - 1] > 4 * float(np.median(calm)) and jumps[cuts[1] - 1] > 4 * float(np.median(calm))
    # the watermarked copy: same length and size, the badge where the clean file has none
    info, minfo = probe_av(clean), probe_av(marked)
    assert (minfo.width, minfo.height, round(minfo.duration, 2)) == (
        info.width,
        info.height,
        round(info.duration, 2),
    )
    x0, y0, x1, y1 = badge_box((info.width, info.height))
    plain_frame, marked_frame = frames[10].astype(np.int16), frames_of(marked)[10].astype(np.int16)
    inside = np.abs(plain_frame[y0:y1, x0:x1] - marked_frame[y0:y1, x0:x1]).mean()
    outside = np.abs(plain_frame[: y0 // 2] - marked_frame[: y0 // 2]).mean()
    assert inside > 20 and outside < 3
    assert done["watermark_info"] == {"enabled": True}
    assert_charge(done, "2.4")  # 0.6 units/s × 4 s


def make_element(http: httpx.Client, account: Account) -> str:
    done = run(http, account, ELEMENTS, image_body())  # a red frontal image
    return str(done["task_result"]["elements"][0]["element_id"])


@pytest.fixture(scope="module")
def element_id(server: GatewayProcess, account: Account) -> str:
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        return make_element(http, account)


def test_kling_v3_image2video_shows_its_elements(
    http: httpx.Client, account: Account, element_id: str
) -> None:
    grey = b64(png_bytes(640, 360, color=(90, 90, 90)))
    body = {
        "model_name": "kling-v3",
        "image": grey,
        "duration": "3",
        "element_list": [{"element_id": element_id}],
    }
    done = run(http, account, I2V, body, "/kling/v1")
    data = fetch(http, done["task_result"]["videos"][0]["url"])
    info = probe_av(data)
    assert abs(info.duration - 3.0) <= 0.1
    (box,) = strip_boxes(1, [(600, 400)], (info.width, info.height))
    for frame in (frames_of(data)[0], frames_of(data)[-1]):
        r, g, b = mean_in(frame, box)
        assert r > 150 and g < 90 and b < 90  # the element's red frontal image, top left
    assert_charge(done, "1.8")  # 0.6 units/s × 3 s


def test_image2video_multi_shot_opens_on_the_image_then_cuts(http: httpx.Client, account: Account) -> None:
    grey = b64(png_bytes(640, 360, color=(90, 90, 90)))
    body = {**V3, "image": grey, "duration": "3", **SHOTS, "multi_prompt": shots(2, 1)}
    done = run(http, account, I2V, body)
    frames = frames_of(fetch(http, done["task_result"]["videos"][0]["url"]))
    jumps = frame_jumps(frames)
    assert int(np.argmax(jumps)) + 1 == 2 * 24  # the one cut: after shot 1 (2 s)
    assert jumps.max() > 4 * float(np.median(jumps))
    first = frames[0][::8, ::8].reshape(-1, 3).mean(axis=0)
    assert np.abs(first - np.array([90, 90, 90])).max() < 40  # shot 1 is the (grey) image


# ---- images/generations ---------------------------------------------------------------------


def test_images_default_to_kling_v3_with_2k_and_watermark(http: httpx.Client, account: Account) -> None:
    body = {
        "prompt": "a red kite",
        "resolution": "2k",
        "aspect_ratio": "16:9",
        "watermark_info": {"enabled": True},
    }
    done = run(http, account, IMAGES, body)
    (image,) = done["task_result"]["images"]
    clean, marked = fetch(http, image["url"]), fetch(http, image["watermark_url"])
    shape = probe_image(clean)
    assert (shape.width, shape.height) == (2720, 1536)
    a = np.asarray(Image.open(io.BytesIO(clean)).convert("RGB"), np.int16)
    b = np.asarray(Image.open(io.BytesIO(marked)).convert("RGB"), np.int16)
    x0, y0, x1, y1 = badge_box((2720, 1536))
    assert np.abs(a[y0:y1, x0:x1] - b[y0:y1, x0:x1]).mean() > 20
    assert np.abs(a[:y0] - b[:y0]).max() == 0  # nothing else changes
    assert_charge(done, "8")  # Image 3.0: 8 units/image


def test_kling_v2_1_costs_4_for_text_and_8_for_image_to_image(http: httpx.Client, account: Account) -> None:
    text = run(http, account, IMAGES, {"prompt": "a kite", "model_name": "kling-v2-1"})
    assert_charge(text, "4")
    body = {
        "prompt": "a kite",
        "model_name": "kling-v2-1",
        "image": b64(png_bytes(600, 600)),
        "image_reference": "subject",
        "image_fidelity": 0.6,
        "human_fidelity": 0.4,
    }
    assert_charge(run(http, account, IMAGES, body, "/kling/v1"), "8")


# ---- every documented limit: 400/1201 naming the field, nothing stored ------------------------

V3 = {"model_name": "kling-v3"}
SHOTS = {"multi_shot": True, "shot_type": "customize"}


def shots(*durations: int, prompt: str = "a shot") -> list[dict[str, Any]]:
    return [{"index": i, "prompt": prompt, "duration": str(d)} for i, d in enumerate(durations, start=1)]


LIMITS: list[tuple[str, str, dict[str, Any], str]] = [
    (
        "4k-on-v2-6",
        T2V,
        {"prompt": "x", "model_name": "kling-v2-6", "mode": "4k"},
        "mode: '4k' is not available for kling-v2-6",
    ),
    ("4k-default-model", T2V, {"prompt": "x", "mode": "4k"}, "mode: '4k' is not available for kling-v1"),
    (
        "4k-i2v-v2-5",
        I2V,
        {"image": "https://x/a.png", "model_name": "kling-v2-5-turbo", "mode": "4k"},
        "mode: '4k'",
    ),
    ("mode-8k", T2V, {"prompt": "x", **V3, "mode": "8k"}, "mode"),
    ("v3-2s", T2V, {"prompt": "x", **V3, "duration": "2"}, "duration: must be one of 3, 4"),
    ("v3-16s", I2V, {"image": "https://x/a.png", **V3, "duration": "16"}, "duration"),
    (
        "v2-6-3s",
        T2V,
        {"prompt": "x", "model_name": "kling-v2-6", "duration": "3"},
        "duration: must be one of 5, 10",
    ),
    ("no-shot-type", T2V, {"prompt": "x", **V3, "multi_shot": True}, "shot_type: is required"),
    ("no-multi-prompt", T2V, {**V3, **SHOTS}, "multi_prompt: is required"),
    ("seven-shots", T2V, {**V3, **SHOTS, "duration": "7", "multi_prompt": shots(*[1] * 7)}, "multi_prompt"),
    (
        "shot-0s",
        T2V,
        {**V3, **SHOTS, "duration": "5", "multi_prompt": shots(0, 5)},
        "multi_prompt[0].duration",
    ),
    (
        "shot-prompt-513",
        T2V,
        {**V3, **SHOTS, "duration": "5", "multi_prompt": shots(5, prompt="p" * 513)},
        "multi_prompt[0].prompt",
    ),
    (
        "shots-sum",
        T2V,
        {**V3, **SHOTS, "duration": "5", "multi_prompt": shots(2, 2)},
        "multi_prompt: durations add up to 4",
    ),
    (
        "shot-index",
        T2V,
        {**V3, **SHOTS, "duration": "5", "multi_prompt": [{"index": 2, "prompt": "p", "duration": "5"}]},
        "multi_prompt: indexes",
    ),
    (
        "multi-shot-v1",
        T2V,
        {"prompt": "x", "multi_shot": True, "shot_type": "intelligence"},
        "multi_shot: is not available for kling-v1",
    ),
    (
        "i2v-4-elements",
        I2V,
        {"image": "https://x/a.png", **V3, "element_list": [{"element_id": 1}] * 4},
        "element_list: kling-v3 takes at most 3",
    ),
    (
        "i2v-elements-v2-6",
        I2V,
        {"image": "https://x/a.png", "model_name": "kling-v2-6", "element_list": [{"element_id": 1}]},
        "element_list: kling-v2-6 takes no elements",
    ),
    (
        "i2v-missing-element",
        I2V,
        {"image": "https://x/a.png", **V3, "element_list": [{"element_id": "123456789012345678"}]},
        "element_list[0].element_id: element '123456789012345678' does not exist",
    ),
    ("sound-on-v1", T2V, {"prompt": "x", "sound": "on"}, "sound: 'on' needs one of"),
    ("img-model", IMAGES, {"prompt": "x", "model_name": "kling-v9"}, "model_name must be one of kling-v3"),
    (
        "img-fidelity-v3",
        IMAGES,
        {"prompt": "x", "image": "https://x/a.png", "image_fidelity": 0.5},
        "image_fidelity: is only supported by",
    ),
    (
        "img-reference-v3",
        IMAGES,
        {"prompt": "x", "image": "https://x/a.png", "image_reference": "face"},
        "image_reference: is only supported by",
    ),
    (
        "img-human-v3",
        IMAGES,
        {"prompt": "x", "model_name": "kling-v3", "human_fidelity": 0.5},
        "human_fidelity: is only supported by",
    ),
    ("img-resolution-4k", IMAGES, {"prompt": "x", "resolution": "4k"}, "resolution"),
    (
        "img-2k-v1",
        IMAGES,
        {"prompt": "x", "model_name": "kling-v1", "resolution": "2k"},
        "resolution: kling-v1 takes 1k",
    ),
    (
        "img-11-elements",
        IMAGES,
        {"prompt": "x", "element_list": [{"element_id": 1}] * 11},
        "element_list: kling-v3 takes at most 10",
    ),
    (
        "img-image-and-10-elements",
        IMAGES,
        {"prompt": "x", "image": "https://x/a.png", "element_list": [{"element_id": 1}] * 10},
        "image/element_list: images + elements ≤ 10",
    ),
    (
        "img-elements-v2-1",
        IMAGES,
        {"prompt": "x", "model_name": "kling-v2-1", "element_list": [{"element_id": 1}]},
        "element_list: kling-v2-1 takes no elements",
    ),
    (
        "img-missing-element",
        IMAGES,
        {"prompt": "x", "element_list": [{"element_id": "99"}]},
        "element_list[0].element_id: element '99' does not exist",
    ),
]


def stored(http: httpx.Client, account: Account, family: str) -> int:
    listed = http.get(f"/v1/{family}", params={"pageSize": 500}, headers=account.bearer)
    assert listed.status_code == 200, listed.text
    return len(listed.json()["data"])


@pytest.mark.parametrize(("family", "body", "says"), [c[1:] for c in LIMITS], ids=[c[0] for c in LIMITS])
def test_each_limit_is_refused_and_nothing_stored(
    http: httpx.Client, stranger: Account, family: str, body: dict[str, Any], says: str
) -> None:
    before = stored(http, stranger, family)
    for prefix in PREFIXES:
        answer = http.post(f"{prefix}/{family}", json=body, headers=stranger.bearer)
        assert answer.status_code == 400, answer.text
        envelope = answer.json()
        assert envelope["code"] == 1201 and says in envelope["message"], envelope
        assert envelope["request_id"]
    assert stored(http, stranger, family) == before


def test_foreign_element_reads_as_missing(http: httpx.Client, stranger: Account, element_id: str) -> None:
    before = stored(http, stranger, I2V)
    body = {"image": b64(png_bytes(400, 400)), **V3, "element_list": [{"element_id": element_id}]}
    answer = http.post(f"/v1/{I2V}", json=body, headers=stranger.bearer)
    assert answer.status_code == 400 and answer.json()["code"] == 1201
    assert (
        answer.json()["message"]
        == f"element_list[0].element_id: element '{element_id}' does not exist for this account"
    )
    for images in ({"prompt": "x", "element_list": [{"element_id": element_id}]},):
        refused = http.post(f"/kling/v1/{IMAGES}", json=images, headers=stranger.bearer)
        assert (
            refused.status_code == 400
            and f"element '{element_id}' does not exist" in refused.json()["message"]
        )
    assert stored(http, stranger, I2V) == before
