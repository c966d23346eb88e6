"""A task's whole path in-process, on SQLite and PostgreSQL: created over HTTP, run by the
in-process worker and the reference engine, its state changes recorded, its result served back
through the signed file route and decoded."""

from __future__ import annotations

from typing import Any

import pytest

from inprocess import InProcessGateway
from kling_gateway.media.probe import probe_image
from support import async_wait_until

pytestmark = pytest.mark.asyncio(loop_scope="module")

IMAGES = "/v1/images/generations"


async def test_image_task_runs_to_a_decodable_result(worker_gateway: InProcessGateway) -> None:
    client = worker_gateway.client
    account = await worker_gateway.create_account("flow")
    created = await client.post(
        IMAGES,
        json={"model_name": "kling-v1", "prompt": "a lighthouse", "n": 2, "aspect_ratio": "1:1"},
        headers=account.bearer,
    )
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["task_id"]
    assert created.json()["data"]["task_status"] == "submitted"

    async def finished() -> dict[str, Any] | None:
        response = await client.get(f"{IMAGES}/{task_id}", headers=account.bearer)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data if data["task_status"] in ("succeed", "failed") else None

    done = await async_wait_until(finished, timeout=120, what=f"task {task_id} to finish")
    assert done["task_status"] == "succeed", done
    images = done["task_result"]["images"]
    assert [image["index"] for image in images] == [0, 1]
    for image in images:
        assert image["url"].startswith(worker_gateway.settings.base_url() + "/files/")
        served = await client.get(image["url"])  # the signed URL, through the same app
        assert served.status_code == 200
        info = probe_image(served.content)
        assert info.width == info.height > 0
        unsigned = await client.get(image["url"].split("?", 1)[0])
        assert unsigned.status_code == 403 and unsigned.json()["code"] == 1103
    assert len(worker_gateway.stored_files(task_id)) >= 2  # in S3 on the PostgreSQL leg
    events = await worker_gateway.gateway.tasks.events(task_id)
    assert [status for _, status, _ in events] == ["submitted", "processing", "succeed"]
