"""Inputs that fail a task, in-process with the worker running, on SQLite (local results) and
PostgreSQL (results in S3): private or unusable URLs and images out of rule fail the task with the
rule named, and leave no files behind."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from inprocess import InProcessGateway
from support import Account, async_wait_until, png_bytes

pytestmark = pytest.mark.asyncio(loop_scope="module")

I2V = "/v1/videos/image2video"


@pytest.fixture(scope="module")
def media_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    server.stop()


async def finished(running: InProcessGateway, account: Account, task_id: str) -> dict[str, Any]:
    async def terminal() -> dict[str, Any] | None:
        response = await running.client.get(f"{I2V}/{task_id}", headers=account.bearer)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data if data["task_status"] in ("succeed", "failed") else None

    result: dict[str, Any] = await async_wait_until(terminal, timeout=90, what=f"task {task_id} to finish")
    return result


@pytest.mark.parametrize(
    ("image", "says"),
    [
        ("http://10.1.2.3/person.png", "private"),
        ("http://169.254.169.254/latest/meta-data", "metadata"),
        ("http://[::ffff:10.0.0.1]/a.png", "private"),
        ("ftp://example.com/a.png", "image"),
    ],
)
async def test_unsafe_input_urls_fail_the_task_and_leave_no_files(
    worker_gateway: InProcessGateway, image: str, says: str
) -> None:
    account = await worker_gateway.create_account("unsafe")
    created = await worker_gateway.client.post(I2V, json={"image": image}, headers=account.bearer)
    if created.status_code == 400:  # refused up front is fine too, if it names the field
        assert created.json()["code"] == 1201 and "image" in created.json()["message"]
        return
    task_id = created.json()["data"]["task_id"]
    done = await finished(worker_gateway, account, task_id)
    assert done["task_status"] == "failed"
    assert "image" in done["task_status_msg"] and says in done["task_status_msg"].lower()
    assert done["task_result"] == {}
    assert worker_gateway.stored_files(task_id) == []


async def test_bad_images_by_url_fail_with_the_rule_named(
    worker_gateway: InProcessGateway, media_server: HTTPServer
) -> None:
    account = await worker_gateway.create_account("bad-images")
    media_server.expect_request("/tiny.png").respond_with_data(png_bytes(120, 120), content_type="image/png")
    media_server.expect_request("/wide.png").respond_with_data(png_bytes(1600, 400), content_type="image/png")
    media_server.expect_request("/text.png").respond_with_data(
        b"not an image at all", content_type="image/png"
    )
    media_server.expect_request("/gone.png").respond_with_data("nope", status=404)
    cases = {"tiny": "300", "wide": "aspect", "text": "image", "gone": "404"}
    for name, says in cases.items():
        url = media_server.url_for(f"/{name}.png")
        created = await worker_gateway.client.post(I2V, json={"image": url}, headers=account.bearer)
        assert created.status_code == 200, created.text
        task_id = created.json()["data"]["task_id"]
        done = await finished(worker_gateway, account, task_id)
        assert done["task_status"] == "failed", (name, done)
        assert "image" in done["task_status_msg"] and says in done["task_status_msg"].lower(), done[
            "task_status_msg"
        ]
        assert worker_gateway.stored_files(task_id) == []
