"""Results through the running gateway: where they are stored, determinism, Range downloads, an
input image fetched by URL. Inputs that fail a task (private or unusable URLs, images out of
rule) and leave no files: tests/integration/test_input_rules.py."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from pytest_httpserver import HTTPServer

from support import png_bytes, wait_for_task

I2V = "/v1/videos/image2video"
T2V = "/kling/v1/videos/text2video"


def _files_of(gateway, task_id: str) -> list:
    """Result objects the gateway stored for a task, in its local results dir or its S3 bucket."""
    if gateway.s3 is not None:
        return gateway.s3.keys(prefix=f"gw/{task_id}/")
    root = gateway.data_dir / "results" / task_id
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_results_are_stored_where_configured(gateway, http, account):
    task_id = http.post(
        "/v1/audio/text-to-audio", json={"prompt": "drum", "duration": 3}, headers=account.bearer
    ).json()["data"]["task_id"]
    wait_for_task(http, "/v1/audio/text-to-audio", task_id, account.bearer)
    stored = _files_of(gateway, task_id)
    assert len(stored) == 2  # mp3 and wav, under the task's prefix (bucket or results dir)


def test_same_request_twice_gives_identical_bytes(http, account):
    body = {
        "prompt": "a lighthouse at dusk",
        "duration": "5",
        "aspect_ratio": "9:16",
        "camera_control": {"type": "simple", "config": {"zoom": 4}},
    }
    digests = []
    for _ in range(2):
        task_id = http.post(T2V, json=body, headers=account.bearer).json()["data"]["task_id"]
        done = wait_for_task(http, T2V, task_id, account.bearer)
        digests.append(hashlib.sha256(http.get(done["task_result"]["videos"][0]["url"]).content).hexdigest())
    other = http.post(T2V, json={**body, "prompt": "a lighthouse at dawn"}, headers=account.bearer)
    done = wait_for_task(http, T2V, other.json()["data"]["task_id"], account.bearer)
    different = hashlib.sha256(http.get(done["task_result"]["videos"][0]["url"]).content).hexdigest()
    assert digests[0] == digests[1] != different


def test_result_links_support_range_and_head(http, account):
    task_id = http.post(
        "/v1/audio/text-to-audio", json={"prompt": "bell", "duration": 3}, headers=account.bearer
    ).json()["data"]["task_id"]
    done = wait_for_task(http, "/v1/audio/text-to-audio", task_id, account.bearer)
    url = done["task_result"]["audios"][0]["url_wav"]
    whole = http.get(url)
    assert whole.headers["content-type"].startswith("audio/")
    head = http.head(url)
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(whole.content)
    part = http.get(url, headers={"Range": "bytes=10-99"})
    assert part.status_code == 206 and part.content == whole.content[10:100]
    assert part.headers["content-range"] == f"bytes 10-99/{len(whole.content)}"
    tail = http.get(url, headers={"Range": "bytes=-16"})
    assert tail.status_code == 206 and tail.content == whole.content[-16:]
    beyond = http.get(url, headers={"Range": f"bytes={len(whole.content) + 5}-"})
    assert beyond.status_code == 416


@pytest.fixture()
def media_server() -> HTTPServer:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    server.stop()


def test_images_from_a_url_work(http, account, media_server):
    media_server.expect_request("/ok.png").respond_with_data(png_bytes(800, 600), content_type="image/png")
    task_id = http.post(I2V, json={"image": media_server.url_for("/ok.png")}, headers=account.bearer)
    done = wait_for_task(http, I2V, task_id.json()["data"]["task_id"], account.bearer)
    assert done["task_status"] == "succeed"
    assert httpx.get(done["task_result"]["videos"][0]["url"]).status_code == 200
