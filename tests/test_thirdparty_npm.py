"""A client nobody here wrote: the npm package ``kling-api@1.0.0`` (a Node.js Kling SDK, pinned in
tests/thirdparty/package-lock.json) pointed at a real gateway, for every endpoint it wraps.

The SDK signs its own HS256 JWTs from an access/secret key pair and refuses any base URL that is
not ``https://``, so the gateway serves HTTPS on loopback with a throwaway self-signed
certificate (``serve --ssl-certfile/--ssl-keyfile``), which Node trusts through
``NODE_EXTRA_CA_CERTS`` — verification stays on. Every result the SDK hands back is downloaded and
decoded here: frames and samples counted, sizes, audio presence, expand geometry and pixels.
Without node/npm or the npm registry this module skips (fails under CI=true).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from PIL import Image

from support import Account, GatewayProcess, png_bytes, require_service, self_signed_cert, wav_bytes

CLIENT_DIR = Path(__file__).parent / "thirdparty"
SCRIPT = CLIENT_DIR / "kling-api.mjs"
PACK_UNITS = 10000


# ---- the client, installed once per session -------------------------------------------------


@pytest.fixture(scope="session")
def node_client() -> Path:
    """``npm ci`` of the pinned lockfile into tests/thirdparty/node_modules (gitignored)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    require_service(
        bool(node and npm), "node and npm are not installed (the npm client kling-api needs them)"
    )
    assert node is not None and npm is not None
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    require_service(
        int(version.lstrip("v").split(".")[0]) >= 18, f"kling-api needs node >= 18, found {version}"
    )
    done = subprocess.run(
        [npm, "ci", "--prefix", str(CLIENT_DIR), "--no-audit", "--no-fund", "--prefer-offline"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    require_service(
        done.returncode == 0,
        f"npm ci of tests/thirdparty failed (is the npm registry reachable?): {done.stderr[-800:]}",
    )
    installed = json.loads((CLIENT_DIR / "node_modules" / "kling-api" / "package.json").read_text())
    assert installed["version"] == "1.0.0"
    return CLIENT_DIR


# ---- one HTTPS gateway for the module --------------------------------------------------------


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    root = tmp_path_factory.mktemp("tls-gw")
    with GatewayProcess(root / "data", tls=self_signed_cert(root / "tls")) as server:
        yield server


@pytest.fixture(scope="module")
def account(gateway: GatewayProcess) -> Account:
    account = gateway.create_account("npm kling-api")
    for package in ("video", "image"):
        gateway.cli("packs", "grant", account.account_id, "--units", str(PACK_UNITS), "--package", package)
    return account


@dataclass
class Sdk:
    """Runs ``kling-api.mjs <operation> <params>`` with the account's keys; returns its JSON."""

    script: Path
    env: dict[str, str]

    def __call__(self, operation: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A run that prints nothing or hangs comes back as ``{"error": ...}`` too, so one broken
        operation fails its own test only."""
        try:
            done = subprocess.run(
                ["node", str(self.script), operation, json.dumps(params or {})],
                env=self.env,
                cwd=self.env["HOME"],  # no .env file of the checkout is read either
                capture_output=True,
                text=True,
                timeout=240,
            )
        except subprocess.TimeoutExpired as exc:
            return {"error": {"name": "timeout", "message": f"{operation}: no answer in {exc.timeout} s"}}
        lines = done.stdout.strip().splitlines()
        if not lines:
            return {"error": {"name": "no output", "message": f"rc {done.returncode}: {done.stderr[-2000:]}"}}
        return json.loads(lines[-1])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def sdk(node_client: Path, gateway: GatewayProcess, account: Account) -> Sdk:
    assert gateway.tls is not None
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(gateway.data_dir),  # no ~/.kling/.env of the machine's user is read
        "KLING_ACCESS_KEY": account.access_key,
        "KLING_SECRET_KEY": account.secret_key,
        "KLING_BASE_URL": gateway.base_url,
        "NODE_EXTRA_CA_CERTS": str(gateway.tls.cert),
    }
    return Sdk(node_client / SCRIPT.name, env)


# ---- inputs (local files: the SDK reads and Base64-encodes them itself) ----------------------

EXPAND = {"up": 0.5, "down": 0.0, "left": 0.25, "right": 0.5}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("sdk-inputs")
    files = {
        "photo": png_bytes(640, 480, (200, 80, 40)),
        "second": png_bytes(480, 640, (40, 160, 90)),
        "portrait": png_bytes(512, 512, (230, 200, 170)),
        "expand": png_bytes(400, 320, (90, 60, 200)),
        "voice": wav_bytes(3.0),
    }
    paths = {}
    for name, data in files.items():
        path = folder / (f"{name}.wav" if name == "voice" else f"{name}.png")
        path.write_bytes(data)
        paths[name] = str(path)
    return paths


def task_params(inputs: dict[str, str]) -> dict[str, dict[str, Any]]:
    """What each SDK method is called with: the smallest durations the SDK allows ('5')."""
    return {
        "text2video": {
            "prompt": "a lighthouse at dusk",
            "model_name": "kling-v2-6",
            "sound": "on",
            "aspect_ratio": "9:16",
            "mode": "std",
            "duration": "5",
        },
        "image2video": {"image": inputs["photo"], "prompt": "the sun moves", "duration": "5"},
        "multi-image2video": {
            "image_list": [{"image": inputs["photo"]}, {"image": inputs["second"]}],
            "prompt": "one scene turns into the other",
            "model_name": "kling-v1-6",
            "aspect_ratio": "1:1",
            "duration": "5",
        },
        "omni-video": {
            "prompt": "the camera drifts over <<<image_1>>>",
            "image_list": [{"image_url": inputs["photo"], "type": "first_frame"}],
            "aspect_ratio": "16:9",
            "duration": "5",
        },
        "avatar": {"image": inputs["portrait"], "sound_file": inputs["voice"], "mode": "std"},
        "generations": {"prompt": "a blue bicycle", "n": 2, "aspect_ratio": "3:2", "resolution": "1k"},
        "omni-image": {
            "prompt": "a poster in the style of <<<image_1>>>",
            "image_list": [{"image": inputs["photo"]}],
            "n": 1,
            "aspect_ratio": "21:9",
            "resolution": "1k",
        },
        "multi-image2image": {
            "subject_image_list": [{"subject_image": inputs["photo"]}, {"subject_image": inputs["second"]}],
            "scene_image": inputs["portrait"],
            "prompt": "both on a beach",
            "n": 2,
            "aspect_ratio": "4:3",
        },
        "expand": {
            "image": inputs["expand"],
            **{f"{side}_expansion_ratio": ratio for side, ratio in EXPAND.items()},
        },
    }


@pytest.fixture(scope="module")
def runs(sdk: Sdk, inputs: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Every task operation through the SDK (create, then its own polling until terminal), run
    side by side; video-extend last, on the text2video result's video id."""
    params = task_params(inputs)
    with ThreadPoolExecutor(max_workers=len(params)) as pool:
        futures = {op: pool.submit(sdk, op, body) for op, body in params.items()}
        results = {op: future.result() for op, future in futures.items()}
    parent = results["text2video"].get("final", {}).get("data", {}).get("task_result", {}).get("videos")
    if parent:
        results["extend"] = sdk("extend", {"video_id": parent[0]["id"], "prompt": "the light goes on"})
    return results


def succeeded(runs: dict[str, dict[str, Any]], operation: str) -> dict[str, Any]:
    """The final task object of one SDK run, after checking the envelopes the SDK returned."""
    run = runs.get(operation)
    assert run is not None, f"{operation} did not run (text2video failed?)"
    assert "error" not in run, f"{operation}: the SDK threw {run['error']}"
    created, final = run["created"], run["final"]
    assert created["code"] == 0 and created["message"] == "SUCCEED", created
    assert created["data"]["task_status"] == "submitted"
    task_id = created["data"]["task_id"]
    assert len(task_id) == 18 and task_id.isdigit()
    assert final["code"] == 0 and final["data"]["task_id"] == task_id
    assert final["data"]["task_status"] == "succeed", final["data"]
    return final["data"]  # type: ignore[no-any-return]


# ---- decoding ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Video:
    width: int
    height: int
    fps: Fraction
    frames: int
    audio_seconds: float | None  # decoded samples / rate; None without an audio stream

    @property
    def seconds(self) -> float:
        return float(self.frames / self.fps)


def download(gateway: GatewayProcess, url: str) -> bytes:
    assert url.startswith(gateway.base_url + "/"), url  # results come back over the same HTTPS origin
    response = httpx.get(url, verify=gateway.verify(), timeout=60)
    assert response.status_code == 200, response.text
    return response.content


def decode_video(data: bytes) -> Video:
    """Decode every frame and audio sample (not just the headers)."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        fps = Fraction(stream.average_rate)
        has_audio = bool(container.streams.audio)
        frames, samples, rate, size = 0, 0, 0, (0, 0)
        for frame in container.decode(*container.streams.video, *container.streams.audio):
            if isinstance(frame, av.VideoFrame):
                frames += 1
                size = (frame.width, frame.height)
            else:
                samples += frame.samples
                rate = frame.sample_rate
    audio = samples / rate if has_audio and rate else None
    return Video(size[0], size[1], fps, frames, audio)


def decode_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()
    return image


def the_video(gateway: GatewayProcess, task: dict[str, Any]) -> tuple[dict[str, Any], Video]:
    videos = task["task_result"]["videos"]
    assert len(videos) == 1
    video = decode_video(download(gateway, videos[0]["url"]))
    assert abs(video.seconds - float(videos[0]["duration"])) <= 0.1, (video, videos[0]["duration"])
    return videos[0], video


def the_images(gateway: GatewayProcess, task: dict[str, Any], n: int) -> list[Image.Image]:
    images = task["task_result"]["images"]
    assert [i["index"] for i in images] == list(range(n))
    return [decode_image(download(gateway, i["url"])) for i in images]


# ---- video endpoints --------------------------------------------------------------------------


def test_text2video_with_sound(gateway: GatewayProcess, runs: dict[str, dict[str, Any]]) -> None:
    meta, video = the_video(gateway, succeeded(runs, "text2video"))
    assert (video.width, video.height) == (720, 1280)  # 9:16 at 720p (std)
    assert abs(video.seconds - 5.0) <= 0.15  # Kling's "5" is whole frames, a little longer
    assert video.audio_seconds is not None and abs(video.audio_seconds - video.seconds) <= 0.1


def test_image2video_keeps_the_image_aspect(gateway: GatewayProcess, runs: dict[str, dict[str, Any]]) -> None:
    _, video = the_video(gateway, succeeded(runs, "image2video"))
    assert abs(video.width / video.height - 640 / 480) <= 0.01  # the input's 4:3
    assert abs(video.width * video.height - 1280 * 720) <= 0.05 * 1280 * 720  # 720p pixel budget
    assert video.width % 2 == 0 and video.height % 2 == 0
    assert abs(video.seconds - 5.0) <= 0.15
    assert video.audio_seconds is None


def test_multi_image2video(gateway: GatewayProcess, runs: dict[str, dict[str, Any]]) -> None:
    _, video = the_video(gateway, succeeded(runs, "multi-image2video"))
    assert (video.width, video.height) == (960, 960)  # kling-v1-6 std 1:1, as measured on Kling
    assert abs(video.seconds - 5.0) <= 0.15


def test_omni_video_from_a_first_frame(gateway: GatewayProcess, runs: dict[str, dict[str, Any]]) -> None:
    _, video = the_video(gateway, succeeded(runs, "omni-video"))
    # The SDK sends no `mode` for omni-video, so Kling's default `pro` (1080p) applies; the
    # first frame's 4:3 sets the aspect.
    assert abs(video.width / video.height - 640 / 480) <= 0.01
    assert abs(video.width * video.height - 1920 * 1080) <= 0.05 * 1920 * 1080
    assert abs(video.seconds - 5.0) <= 0.15


def test_video_extend_continues_the_text2video_result(
    gateway: GatewayProcess, runs: dict[str, dict[str, Any]]
) -> None:
    parent = succeeded(runs, "text2video")["task_result"]["videos"][0]
    task = succeeded(runs, "extend")
    assert task["task_info"]["parent_video"]["id"] == parent["id"]
    _, video = the_video(gateway, task)
    assert (video.width, video.height) == (720, 1280)
    assert abs(video.seconds - (float(parent["duration"]) + 4.5)) <= 0.15


def test_avatar_speaks_the_audio(gateway: GatewayProcess, runs: dict[str, dict[str, Any]]) -> None:
    _, video = the_video(gateway, succeeded(runs, "avatar"))
    assert abs(video.seconds - 3.0) <= 0.1  # as long as the 3 s sound_file
    assert video.width == video.height  # the square portrait's aspect
    assert video.audio_seconds is not None, "the avatar video has no audio stream"
    assert abs(video.audio_seconds - 3.0) <= 0.1


# ---- image endpoints --------------------------------------------------------------------------


def test_generations(gateway: GatewayProcess, runs: dict[str, dict[str, Any]]) -> None:
    images = the_images(gateway, succeeded(runs, "generations"), 2)
    assert [i.size for i in images] == [(1248, 832)] * 2  # 3:2 at 1k (spec §17.2)
    assert images[0].tobytes() != images[1].tobytes()


def test_omni_image(gateway: GatewayProcess, runs: dict[str, dict[str, Any]]) -> None:
    (image,) = the_images(gateway, succeeded(runs, "omni-image"), 1)
    assert image.size == (1552, 656)  # 21:9 at 1k


def test_multi_image2image(gateway: GatewayProcess, runs: dict[str, dict[str, Any]]) -> None:
    images = the_images(gateway, succeeded(runs, "multi-image2image"), 2)
    assert [i.size for i in images] == [(1168, 880)] * 2  # 4:3 at 1k


def test_expand_geometry_and_original_pixels(
    gateway: GatewayProcess, runs: dict[str, dict[str, Any]], inputs: dict[str, str]
) -> None:
    (image,) = the_images(gateway, succeeded(runs, "expand"), 1)
    original = Image.open(inputs["expand"]).convert("RGB")
    w, h = original.size
    assert image.size == (
        round(w * (1 + EXPAND["left"] + EXPAND["right"])),
        round(h * (1 + EXPAND["up"] + EXPAND["down"])),
    )
    x, y = round(w * EXPAND["left"]), round(h * EXPAND["up"])
    placed = image.convert("RGB").crop((x, y, x + w, y + h))
    assert placed.tobytes() == original.tobytes()


# ---- account and errors -------------------------------------------------------------------------


def test_account_costs_as_the_sdk_reads_them(sdk: Sdk, runs: dict[str, dict[str, Any]]) -> None:
    tasks = [succeeded(runs, op) for op in runs]
    now = int(time.time() * 1000)
    response = sdk("account", {"start_time": now - 3600_000, "end_time": now + 3600_000})["response"]
    assert response["code"] == 0 and response["data"]["code"] == 0
    packs = response["data"]["resource_pack_subscribe_infos"]
    assert len(packs) == 2
    for pack in packs:  # the fields and types the SDK's ResourcePack declares
        for name in (
            "total_quantity",
            "remaining_quantity",
            "purchase_time",
            "effective_time",
            "invalid_time",
        ):
            assert isinstance(pack[name], int | float) and not isinstance(pack[name], bool), (name, pack)
        assert isinstance(pack["resource_pack_name"], str) and isinstance(pack["resource_pack_id"], str)
        assert pack["resource_pack_type"] in ("decreasing_total", "constant_period")
        assert pack["status"] == "online" and pack["total_quantity"] == PACK_UNITS
        assert 0 < pack["remaining_quantity"] < PACK_UNITS  # both packs paid for some of the tasks
    used = sum(PACK_UNITS - pack["remaining_quantity"] for pack in packs)
    assert used == pytest.approx(sum(float(t["final_unit_deduction"]) for t in tasks))
    assert sdk("health")["response"] is True


def test_an_unknown_task_is_a_kling_error_the_sdk_understands(sdk: Sdk) -> None:
    error = sdk("query-text2video", {"task_id": "100000000000000000"})["error"]
    assert error["name"] == "KlingAPIError"
    assert error["code"] == 1203 and error["httpStatus"] == 404, error
    assert "100000000000000000" in error["message"] or "task" in error["message"].lower()
    assert len(error["requestId"]) == 36
