"""/openapi.json documents every route, body and error response (in-process; the document does
not depend on the database, so SQLite only)."""

from __future__ import annotations

import httpx
import pytest

from kling_gateway.schemas import FAMILIES

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def backend() -> None:
    """Embedded SQLite only (overrides the two-backend fixture of tests/conftest.py)."""
    return None


async def test_every_family_route_is_documented_with_errors(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    paths = spec["paths"]
    for prefix in ("/v1", "/kling/v1"):
        for family, spec_of in FAMILIES.items():
            create = paths[f"{prefix}/{family}"]["post"]
            assert "requestBody" in create
            for status in ("200", "400", "401", "404", "429", "500"):
                assert status in create["responses"], (family, status)
            if spec_of.synchronous:  # the create call answers with the result: nothing to query
                assert (
                    f"{prefix}/{family}/{{task_id}}" not in paths and "get" not in paths[f"{prefix}/{family}"]
                )
                continue
            assert "get" in paths[f"{prefix}/{family}"]
            one = paths[f"{prefix}/{family}/{{task_id}}"]["get"]
            assert "401" in one["responses"] and "404" in one["responses"]
        for call in (
            "init-selection",
            "add-selection",
            "delete-selection",
            "clear-selection",
            "preview-selection",
        ):
            assert "post" in paths[f"{prefix}/videos/multi-elements/{call}"]
    schemas = spec["components"]["schemas"]
    assert {"Text2VideoRequest", "ErrorBody", "TaskEnvelope"} <= set(schemas)
    assert "camera_control" in schemas["Text2VideoRequest"]["properties"]
    assert spec["components"]["securitySchemes"]


async def test_limits_and_idempotency_are_documented(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    create = paths["/v1/videos/text2video"]["post"]
    for status in ("408", "409", "413", "431", "503"):
        assert status in create["responses"], status
    assert "Retry-After" in create["responses"]["429"]["headers"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in create["parameters"])
    query = paths["/v1/videos/text2video/{task_id}"]["get"]
    assert "413" not in query["responses"] and "409" not in query["responses"]  # GET has no body
    selection = paths["/v1/videos/multi-elements/init-selection"]["post"]
    assert "413" in selection["responses"] and "409" not in selection["responses"]
    assert {"401", "403", "404"} <= set(paths["/push/stats"]["get"]["responses"])
    assert "503" in paths["/healthz"]["get"]["responses"]


async def test_event_stream_schema_is_documented(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    stream = spec["paths"]["/v1/videos/text2video/{task_id}/events"]["get"]["responses"]["200"]
    event = stream["content"]["text/event-stream"]["x-sse-event"]
    assert set(event["properties"]["event"]["enum"]) == {"submitted", "processing", "succeed", "failed"}
    ref = event["properties"]["data"]["$ref"].rsplit("/", 1)[1]
    assert "task_status" in spec["components"]["schemas"][ref]["properties"]


async def test_creates_link_to_their_task(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    links = paths["/v1/videos/text2video"]["post"]["responses"]["200"]["links"]
    query_id = paths["/v1/videos/text2video/{task_id}"]["get"]["operationId"]
    assert links["GetTask"] == {
        "operationId": query_id,
        "parameters": {"task_id": "$response.body#/data/task_id"},
    }
    assert "TaskEvents" in links and "TaskCallbacks" in links
