"""The one Kling route table, in-process: every family × method × prefix resolves to exactly one
route, the routes served are the routes documented, and routing errors keep Kling's codes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import BaseRoute, Match, Mount, Route

from kling_gateway.api import create_app, routes
from kling_gateway.api.app import PREFIXES
from kling_gateway.config import Settings
from kling_gateway.gateway import Gateway
from kling_gateway.keys import create_account
from kling_gateway.schemas import FAMILIES

SELECTION_CALLS = (
    "init-selection",
    "add-selection",
    "delete-selection",
    "clear-selection",
    "preview-selection",
)


# Gateway extensions in the table, beside the Kling families: (method, path below the prefix, name).
EXTENSIONS = (
    ("GET", "/models", "list_models"),
    ("GET", "/tasks/search", "search_tasks"),
    # the element calls beside the family's create/query/list (spec more §7.7)
    ("GET", "/general/advanced-presets-elements", "list_preset_elements"),
    ("POST", "/general/delete-advanced-elements", "delete_element_0"),
    ("POST", "/general/delete-elements", "delete_element_1"),
    # the voice calls beside the family's create/query/list (spec more §7.6)
    ("GET", "/general/presets-voices", "list_preset_voices"),
    ("POST", "/general/delete-voices", "delete_voice"),
)


def calls() -> Iterator[tuple[str, str, str]]:
    """(method, path, route name) of every call the table must serve, under every prefix."""
    for prefix in PREFIXES:
        for name, family in FAMILIES.items():
            slug = name.replace("/", "_").replace("-", "_")
            yield "POST", f"{prefix}/{name}", f"create_{slug}"
            if family.synchronous:  # answered by the create call: no query, list or events
                continue
            yield "GET", f"{prefix}/{name}", f"list_{slug}"
            yield "GET", f"{prefix}/{name}/123456789012345678", f"get_{slug}"
            yield "GET", f"{prefix}/{name}/123456789012345678/events", f"events_{slug}"
            yield "GET", f"{prefix}/{name}/123456789012345678/callbacks", f"callbacks_{slug}"
        for call in SELECTION_CALLS:
            yield "POST", f"{prefix}/videos/multi-elements/{call}", call.replace("-", "_")
        for method, path, name in EXTENSIONS:
            yield method, prefix + path, name


def test_face_and_recognition_families_are_served() -> None:
    """Issue #15's identify-face, advanced lip-sync, image-recognize and ai-multi-shot: two of
    them synchronous (create only), two with create, query, list, events and callbacks."""
    wanted = {
        "videos/identify-face": True,
        "videos/advanced-lip-sync": False,
        "videos/image-recognize": True,
        "general/ai-multi-shot": False,
    }
    assert {name: FAMILIES[name].synchronous for name in wanted} == wanted


def full_matches(routes: Sequence[BaseRoute], scope: dict[str, Any]) -> list[Route]:
    """Every route (through mounts) that fully matches ``scope``, as the router would try them."""
    found: list[Route] = []
    for route in routes:
        match, child = route.matches(scope)
        if match is not Match.FULL:
            continue
        if isinstance(route, Mount):
            found += full_matches(route.routes, {**scope, **child})
        elif isinstance(route, Route):
            found.append(route)
    return found


@pytest.fixture()
def gateway(tmp_path: Path) -> Gateway:
    return Gateway(Settings(data_dir=tmp_path, workers=0))


@pytest.fixture()
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(gateway=gateway)
    async with app.router.lifespan_context(app):  # ASGITransport does not run the lifespan
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as http:
            yield http


def test_every_call_resolves_to_exactly_one_route(gateway: Gateway) -> None:
    app = create_app(gateway=gateway)
    for method, path, name in calls():
        scope = {"type": "http", "method": method, "path": path, "root_path": "", "path_params": {}}
        matched = full_matches(app.routes, scope)
        assert [r.name for r in matched] == [name], (method, path)


def test_table_router_picks_the_route_a_full_scan_picks(gateway: Gateway) -> None:
    """The table's index by literal prefix (TableRouter, and the middleware's TableIndex over all
    mounts) chooses, for every call, for other methods (405 cases) and for paths no route serves,
    what Starlette's scan of the same routes in order chooses, with the same scope."""
    app = create_app(gateway=gateway)
    mounts = {m.path: m for m in app.routes if isinstance(m, Mount) and m.path in PREFIXES}
    probes = {(method, path) for method, path, _ in calls()}
    probes |= {(m, path) for _, path, _ in calls() for m in ("GET", "HEAD", "POST", "DELETE")}
    probes |= {
        (m, prefix + tail)
        for prefix in PREFIXES
        for m in ("GET", "POST")
        for tail in (
            "",
            "/",
            "/videos",
            "/videos/",
            "/videos/text2video/",
            "/videos/text2video/1/x",
            "/videos/avatar/image2video/1",
            "/videos/avatar",
            "/tasks",
            "/models/x",
        )
    }
    picked_somewhere = 0
    index = routes.TableIndex(list(mounts.values()))
    for method, path in sorted(probes):
        prefix = next(p for p in sorted(PREFIXES, key=len, reverse=True) if path.startswith(p))
        mount = mounts[prefix]
        scope = {"type": "http", "method": method, "path": path, "root_path": "", "path_params": {}}
        _, child = mount.matches(scope)
        if not child:  # the mount itself does not match (the bare prefix): nothing to compare
            continue
        inner = {**scope, **child}
        router = mount.app
        assert isinstance(router, routes.TableRouter)
        expected = full_matches(mount.routes, inner)[:1]
        picked = router.pick(inner)
        assert [p[0] for p in [picked] if p is not None] == expected, (method, path)
        picked_somewhere += picked is not None
        # the middleware's index over all mounts: the same route, the scope mount + route give
        indexed = index.pick(scope)
        assert [p[0] for p in [indexed] if p is not None] == expected, (method, path)
        if picked is not None and indexed is not None:
            given = {**child, **picked[1], "router": router, "route": picked[0]}
            assert indexed[1] == given, (method, path)
    assert picked_somewhere >= len(list(calls()))


def test_openapi_documents_exactly_the_served_table(gateway: Gateway) -> None:
    app = create_app(gateway=gateway)
    paths = app.openapi()["paths"]
    documented = {
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith(tuple(p + "/" for p in PREFIXES))
        for method in operations
    }
    served = {
        (method, mount.path + route.path)
        for mount in app.routes
        if isinstance(mount, Mount) and mount.path in PREFIXES
        for route in mount.routes
        if isinstance(route, Route)
        for method in (route.methods or ()) - {"HEAD"}
    }
    assert documented == served
    calls_per_family = sum(1 if f.synchronous else 5 for f in FAMILIES.values())
    assert len(served) == len(PREFIXES) * (calls_per_family + len(SELECTION_CALLS) + len(EXTENSIONS))


@pytest.mark.parametrize(
    ("method", "path", "http_status", "code", "says"),
    [
        ("GET", "/kling/v1/videos/teleport", 404, 1203, "no such route"),
        ("POST", "/v1/videos/teleport", 404, 1203, "no such route"),
        ("GET", "/v1/videos/teleport/123", 404, 1203, "no such route"),
        ("DELETE", "/kling/v1/videos/text2video", 404, 1202, "method DELETE"),
        ("PUT", "/v1/videos/text2video/123", 404, 1202, "method PUT"),
        ("GET", "/v1/videos/multi-elements/add-selection", 404, 1202, "method GET"),
        # synchronous families answer their create call: no list or query route
        ("GET", "/v1/videos/identify-face", 404, 1202, "method GET"),
        ("GET", "/kling/v1/videos/image-recognize", 404, 1202, "method GET"),
        ("GET", "/v1/videos/text2video/123", 401, 1001, "empty"),  # a KlingError from a plain route
    ],
)
async def test_routing_errors_keep_kling_codes(
    client: httpx.AsyncClient, method: str, path: str, http_status: int, code: int, says: str
) -> None:
    response = await client.request(method, path)
    assert response.status_code == http_status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "request_id"}
    assert body["code"] == code
    assert says.lower() in body["message"].lower()
    assert body["request_id"] == response.headers["x-request-id"]


async def test_created_task_is_queried_and_listed_under_both_prefixes(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    issued = await create_account(gateway.accounts, gateway.box, "routes")
    auth = {"Authorization": f"Bearer {issued.api_key}"}
    created = await client.post(
        "/v1/videos/text2video",
        content=b'{"prompt": "a fox", "external_task_id": "fox-1"}',
        headers={**auth, "Content-Type": "application/x-www-form-urlencoded"},  # as curl -d labels it
    )
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["task_id"]
    for prefix in PREFIXES:
        one = await client.get(f"{prefix}/videos/text2video/fox-1", headers=auth)
        assert one.status_code == 200 and one.json()["data"]["task_id"] == task_id
        assert one.headers["etag"].startswith('W/"submitted-')
        listed = await client.get(f"{prefix}/videos/text2video", params={"pageSize": 5}, headers=auth)
        assert [t["task_id"] for t in listed.json()["data"]] == [task_id]
        other_family = await client.get(f"{prefix}/videos/image2video/{task_id}", headers=auth)
        assert other_family.status_code == 404 and other_family.json()["code"] == 1203
