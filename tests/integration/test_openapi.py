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
