"""The one table of Kling routes: each :class:`Endpoint` is served as a plain Starlette ``Route``
and described in OpenAPI from the same entry.

The table is mounted under every prefix (``/v1``, ``/kling/v1``). Handlers are lean
``async (Request) -> Response`` functions with no dependency-injection layer (polling is most of
a gateway's traffic); they raise :class:`~kling_gateway.errors.KlingError`, which the app's
exception handlers render as the envelope. Within a mount, routes are tried in table order, so
the table lists the hot paths (query, then create and list) first.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette._utils import get_route_path
from starlette.convertors import Convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Mount, Route, Router, compile_path
from starlette.types import Receive, Scope, Send

from ..schemas import ErrorBody
from .deps import bearer_scheme

Handler = Callable[[Request], Awaitable[Response]]

# The error answers every Kling route may give (all in the envelope, ErrorBody). 408 and 431 come
# from the server's protocol limits (kling_gateway/server.py), before any route runs.
ERROR_RESPONSES: dict[int, str] = {
    400: "1200 invalid request (bad JSON, NUL byte, nesting too deep) / 1201 invalid parameter / "
    "1300–1301 policy",
    401: "1000–1004 authentication failed",
    403: "1103 no permission",
    404: "1202 invalid method / 1203 resource (task, route, model) not found",
    408: "1200 request headers or body not received in time",
    429: "1100–1102 account / 1302 request rate (with Retry-After) / 1303 concurrency / 1304",
    431: "1200 request line and headers larger than the limit",
    500: "5000 internal error",
    503: "5001 service unavailable (storage full, upstream down)",
    504: "5002 timeout",
}
BODY_ERRORS: dict[int, str] = {413: "1200 request body larger than this route's limit"}
CREATE_ERRORS: dict[int, str] = {
    **BODY_ERRORS,
    409: "1201 the Idempotency-Key was already used with a different request",
}
RETRY_AFTER = {
    "Retry-After": {"description": "seconds to wait (1302 rate limit)", "schema": {"type": "integer"}}
}
IDEMPOTENCY_PARAMETER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    "description": "retrying with the same key and body answers the first task "
    "(`Idempotent-Replayed: true`), for 24 h; another body with the key is 409",
}

_PATH_PARAM = re.compile(r"{(\w+)(?::\w+)?}")


@dataclass(frozen=True)
class Endpoint:
    """One route: where it is served, its handler, and what OpenAPI says about it.

    The 200 answer is ``ok`` (an envelope model, as JSON) or, for other media, ``ok_response``
    (an OpenAPI response object). ``parameters`` are OpenAPI objects for query and header
    parameters; path parameters are read from ``path``."""

    method: str
    path: str  # below the prefix, e.g. "/videos/text2video/{task_id}"
    handler: Handler
    name: str
    summary: str
    tag: str
    description: str | None = None
    body: type[BaseModel] | None = None
    ok: type[BaseModel] | None = None
    ok_response: dict[str, Any] | None = None
    ok_headers: dict[str, Any] | None = None
    parameters: Sequence[dict[str, Any]] = field(default_factory=tuple)
    errors: Mapping[int, str] = field(default_factory=dict)  # beyond ERROR_RESPONSES (and 413 on POST)


def _literal_key(path: str) -> str:
    """The longest prefix of ``path`` ending at a segment boundary that every path the route
    matches starts with: the path itself when it has no parameter, else the literal part before
    the first ``{`` cut back to its last ``/`` (``/videos/text2video/{task_id}`` ->
    ``/videos/text2video``)."""
    if "{" not in path:
        return path
    literal = path[: path.index("{")]
    return literal[: literal.rfind("/")] if "/" in literal else ""


_T = TypeVar("_T")


def _candidates(filed: Mapping[str, list[tuple[int, _T]]], path: str) -> list[_T]:
    """What ``filed`` (items filed by :func:`_literal_key`, numbered in table order) holds under
    ``path`` or one of its segment-boundary prefixes, in table order."""
    hits = []
    key = path
    while True:
        hit = filed.get(key)
        if hit is not None:
            hits.append(hit)
        if not key:
            break
        key = key[: max(key.rfind("/"), 0)]
    if len(hits) == 1:
        return [item for _, item in hits[0]]
    return [item for _, item in sorted((item for hit in hits for item in hit), key=lambda i: i[0])]


_KEPT_KEYS = 4096


@dataclass(frozen=True)
class _Filed:
    """One table route under one mount: its full path compiled, and what a match hands on."""

    mount: Mount
    table: TableRouter
    route: Route
    regex: re.Pattern[str]
    convertors: dict[str, Convertor[Any]]


class TableIndex:
    """The Kling table's routes under all of its mounts, by full path: the route a request fully
    matches (path and method) and the scope the mount and the route would give it, found with
    one literal-prefix lookup and one regular expression per candidate (the mount's own match
    and the route's, each building a child scope, cost as much as the rest of a cached query).

    It picks what :meth:`TableRouter.pick` picks below the mount the path starts with
    (``tests/test_routes.py`` compares them over every call)."""

    def __init__(self, mounts: Sequence[Mount]):
        filed: dict[str, list[tuple[int, _Filed]]] = {}
        n = 0
        for m in mounts:
            table = m.app
            if not isinstance(table, TableRouter):
                continue
            for route in table.routes:
                assert isinstance(route, Route)
                full = m.path + route.path
                regex, _, convertors = compile_path(full)
                filed.setdefault(_literal_key(full), []).append(
                    (n, _Filed(m, table, route, regex, convertors))
                )
                n += 1
        self._filed = filed
        self._by_key: dict[str, list[_Filed]] = {}

    def _candidates_of(self, path: str) -> list[_Filed]:
        """:func:`_candidates` of ``path``, kept per key: a path filed itself (a list or a
        create) is its own key; any other path has its parent's candidates (the walk would
        look it up, miss, and go on to the parent), so a query's key is its family's path,
        whatever the task id. Keys under a parameter (``…/{task_id}/events``) have no bound, so
        the store is cleared when it holds :data:`_KEPT_KEYS`."""
        key = path if path in self._filed else path[: max(path.rfind("/"), 0)]
        found = self._by_key.get(key)
        if found is None:
            if len(self._by_key) >= _KEPT_KEYS:
                self._by_key.clear()
            found = self._by_key[key] = _candidates(self._filed, key)
        return found

    def pick(self, scope: Scope) -> tuple[Route, Scope] | None:
        """The route that fully matches an HTTP ``scope``, with the keys the mount's and the
        route's matches add to it (``router`` and ``route`` too); None when none does."""
        path = get_route_path(scope)
        method = scope["method"]
        for entry in self._candidates_of(path):
            route = entry.route
            if route.methods is not None and method not in route.methods:
                continue
            match = entry.regex.match(path)
            if match is None:
                continue
            params = dict(scope.get("path_params", {}))
            for key, value in match.groupdict().items():
                params[key] = entry.convertors[key].convert(value)
            root = scope.get("root_path", "")
            return route, {
                "path_params": params,
                "app_root_path": scope.get("app_root_path", root),
                "root_path": root + entry.mount.path,
                "endpoint": route.endpoint,
                "router": entry.table,
                "route": route,
            }
        return None


class TableRouter(Router):
    """A Starlette router over the table's routes that finds the candidates for a path by its
    literal prefixes instead of trying all of the routes in turn (93 per prefix: a list or a
    create of the last family tried about 60 regular expressions before its own).

    Each route is filed under :func:`_literal_key`; a request path's candidates are the routes
    filed under the path or one of its segment-boundary prefixes, in table order, and only they
    are matched. Any route that can match the path is among them, so the first full match is the
    one Starlette's scan would find. Anything else (405, a trailing-slash redirect, 404) is left
    to Starlette's own scan, unchanged."""

    def __init__(self, routes: Sequence[Route]):
        super().__init__(routes=list(routes))
        filed: dict[str, list[tuple[int, Route]]] = {}
        for n, route in enumerate(routes):
            filed.setdefault(_literal_key(route.path), []).append((n, route))
        self._filed = filed

    def candidates(self, path: str) -> list[Route]:
        """The routes that may match ``path`` (a path below the mount), in table order."""
        return _candidates(self._filed, path)

    def pick(self, scope: Scope) -> tuple[Route, Scope] | None:
        """The route that fully matches an HTTP ``scope`` first in table order, with its child
        scope; None when none does."""
        for route in self.candidates(get_route_path(scope)):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                return route, child_scope
        return None

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        picked = self.pick(scope) if scope["type"] == "http" else None
        if picked is None:
            await super().app(scope, receive, send)
            return
        route, child_scope = picked
        scope.setdefault("router", self)
        scope["route"] = route
        scope.update(child_scope)
        await route.handle(scope, receive, send)


def mount(prefix: str, endpoints: Sequence[Endpoint]) -> Mount:
    """The table under one prefix, one ``Route`` per endpoint in table order. The handlers must be
    coroutine functions: the middleware awaits them directly (``api/middleware.py``)."""
    sync = [e.name for e in endpoints if not inspect.iscoroutinefunction(e.handler)]
    if sync:
        raise TypeError(f"the Kling table's handlers must be async: {sync}")
    routes = [Route(e.path, e.handler, methods=[e.method], name=e.name) for e in endpoints]
    return Mount(prefix, app=TableRouter(routes), name=prefix.strip("/").replace("/", "_"))


def flat(prefix: str, endpoints: Sequence[Endpoint]) -> list[Route]:
    """The table under one prefix as plain routes (the host root, where a Mount would catch all)."""
    return [Route(prefix + e.path, e.handler, methods=[e.method], name=e.name) for e in endpoints]


# ---- OpenAPI ---------------------------------------------------------------------------------


def _unique(models: Iterable[type[BaseModel] | None]) -> list[type[BaseModel]]:
    return list(dict.fromkeys(m for m in models if m is not None))


def _path_parameters(path: str) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "title": name.replace("_", " ").title()},
        }
        for name in _PATH_PARAM.findall(path)
    ]


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation(
    e: Endpoint, prefix: str, refs: Mapping[tuple[Any, JsonSchemaMode], dict[str, Any]]
) -> dict[str, Any]:
    full_path = prefix + e.path
    op: dict[str, Any] = {
        "tags": [e.tag],
        "summary": e.summary,
        "operationId": re.sub(r"\W", "_", e.name + full_path) + "_" + e.method.lower(),
        "security": [{bearer_scheme.scheme_name: []}],
    }
    if e.description:
        op["description"] = e.description
    parameters = [*_path_parameters(e.path), *e.parameters]
    if parameters:
        op["parameters"] = parameters
    if e.body is not None:
        op["requestBody"] = {"required": True, "content": _json(refs[(e.body, "validation")])}
    if e.ok_response is not None:
        ok = dict(e.ok_response)
    else:
        schema = refs[(e.ok, "serialization")] if e.ok is not None else {}
        ok = {"description": "Successful Response", "content": _json(schema)}
    if e.ok_headers:
        ok["headers"] = e.ok_headers
    error = refs[(ErrorBody, "serialization")]
    errors = {**ERROR_RESPONSES, **(BODY_ERRORS if e.method == "POST" else {}), **e.errors}
    responses: dict[str, Any] = {"200": ok}
    for status, text in sorted(errors.items()):
        responses[str(status)] = {"description": text, "content": _json(error)}
    responses["429"]["headers"] = RETRY_AFTER
    op["responses"] = responses
    return op


def _link_creates_to_queries(paths: dict[str, dict[str, Any]]) -> None:
    """OpenAPI links from each create's answer to the task's query (and event stream, callback
    log): ``task_id`` is ``data.task_id`` of the create (used by stateful API testing)."""
    for path, operations in paths.items():
        create = operations.get("post")
        if create is None:
            continue
        links = {}
        for suffix, name in (("", "GetTask"), ("/events", "TaskEvents"), ("/callbacks", "TaskCallbacks")):
            target = paths.get(f"{path}/{{task_id}}{suffix}", {}).get("get")
            if target is not None:
                links[name] = {
                    "operationId": target["operationId"],
                    "parameters": {"task_id": "$response.body#/data/task_id"},
                }
        if links:
            create["responses"]["200"]["links"] = links


def describe(prefixes: Sequence[str], endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    """The OpenAPI ``paths``, ``components.schemas`` and security scheme of the table."""
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        *((m, "validation") for m in _unique(e.body for e in endpoints)),
        *((m, "serialization") for m in _unique([*(e.ok for e in endpoints), ErrorBody])),
    ]
    refs, definitions = models_json_schema(wanted, ref_template="#/components/schemas/{model}")
    paths: dict[str, dict[str, Any]] = {}
    for prefix in prefixes:
        for e in sorted(endpoints, key=lambda e: e.path):  # a family's paths together
            paths.setdefault(prefix + e.path, {})[e.method.lower()] = _operation(e, prefix, refs)
    _link_creates_to_queries(paths)
    security = bearer_scheme.model.model_dump(by_alias=True, exclude_none=True, mode="json")
    return {
        "paths": paths,
        "schemas": definitions.get("$defs", {}),
        "securitySchemes": {bearer_scheme.scheme_name: security},
    }


Group = tuple[Sequence[str], Sequence[Endpoint]]


def install_openapi(app: FastAPI, groups: Sequence[Group]) -> None:
    """``app.openapi()``: FastAPI's document of its own routes (files, health, ops) with the
    table's paths (each group: prefixes and the endpoints served under them) in front."""
    tables = [describe(prefixes, endpoints) for prefixes, endpoints in groups]
    table = {
        key: {k: v for t in tables for k, v in t[key].items()}
        for key in ("paths", "schemas", "securitySchemes")
    }
    framework_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        schema = framework_openapi()  # cached by FastAPI
        components = schema.get("components", {})
        return {
            **schema,
            "paths": {**table["paths"], **schema.get("paths", {})},
            "components": {
                **components,
                "schemas": {**table["schemas"], **components.get("schemas", {})},
                "securitySchemes": {**table["securitySchemes"], **components.get("securitySchemes", {})},
            },
        }

    app.openapi = openapi  # type: ignore[method-assign]
