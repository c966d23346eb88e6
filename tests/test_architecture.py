"""The structure of the code, read from the code: the import graph (ast over
``src/kling_gateway``, every import counted, lazy and ``TYPE_CHECKING`` ones included) and the
exception hierarchy. See ``docs/architecture.md`` for the rules these check."""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import kling_gateway
from kling_gateway.client.errors import KlingClientError
from kling_gateway.errors import GatewayError

PACKAGE = Path(kling_gateway.__file__).parent
# may import the composition root (cli_common: the command line's helper that opens the store)
ENTRY_POINTS = {"kling_gateway.cli", "kling_gateway.cli_common", "kling_gateway.api.app"}
ROUTE_BUILDERS = {"Route", "Mount", "WebSocketRoute", "APIRouter", "APIRoute", "FastAPI", "Starlette"}
ROUTE_DECORATORS = {"get", "post", "put", "patch", "delete", "route", "api_route", "websocket"}
ENGINE_HOOKS = {"attach", "bind", "admit", "close", "core", "serves", "run"}
STATUS_WORDS = {"submitted", "processing", "succeed", "failed"}


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tree: ast.Module

    def imports(self, known: set[str]) -> set[str]:
        """The package's modules this one imports (``from pkg import sub`` names ``pkg.sub``)."""
        out: set[str] = set()
        is_pkg = self.path.name == "__init__.py"
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                out.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = self.name.split(".")[: None if is_pkg else -1]
                    base = base[: len(base) - node.level + 1]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    target = node.module or ""
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    out.add(sub if sub in known else target)
        return {m for m in out if m in known and m != self.name}


@functools.cache
def modules(root: Path = PACKAGE) -> dict[str, Module]:
    found = {}
    for path in sorted(root.rglob("*.py")):
        if "migrations" in path.relative_to(root).parts:
            continue  # Alembic scripts, run by Alembic
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        found[name] = Module(name, path, ast.parse(path.read_text(), str(path)))
    return found


@functools.cache
def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    mods = modules(root)
    known = set(mods)
    return {name: mod.imports(known) for name, mod in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def in_part(module: str, part: str) -> bool:
    full = f"kling_gateway.{part}"
    return module == full or module.startswith(full + ".")


# ---- the import graph -------------------------------------------------------------------------


def test_the_graph_is_read_from_the_code() -> None:
    graph = import_graph()
    assert "kling_gateway.gateway" in graph and "kling_gateway.api.app" in graph
    assert "kling_gateway.gateway" in graph["kling_gateway.api.app"]  # the app factory builds one
    assert "kling_gateway.errors" in graph["kling_gateway.media.validate"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_command_line_modules_share_options_without_importing_each_other() -> None:
    graph = import_graph()
    assert "kling_gateway.cli_common" in graph["kling_gateway.cli"]
    assert "kling_gateway.cli_common" in graph["kling_gateway.admin_cli"]
    assert "kling_gateway.cli" not in graph["kling_gateway.admin_cli"]


def test_only_entry_points_import_the_composition_root() -> None:
    importers = {m for m, deps in import_graph().items() if "kling_gateway.gateway" in deps}
    assert importers <= ENTRY_POINTS, f"imported from below the composition root: {importers - ENTRY_POINTS}"


@pytest.mark.parametrize(
    ("part", "forbidden"),
    [
        ("media", ("engines", "api", "jobs", "push", "service", "sessions", "gateway")),
        ("schemas", ("engines", "api", "jobs", "push", "store", "service", "gateway")),
        ("store", ("engines", "api", "jobs", "push", "service", "gateway")),
        ("engines", ("api", "jobs", "service", "gateway")),
        ("jobs", ("api", "gateway")),
        ("push", ("api", "jobs", "engines", "gateway")),
        ("errors", ("engines", "api", "jobs", "push", "store", "media", "service", "gateway")),
    ],
)
def test_dependencies_point_one_way(part: str, forbidden: tuple[str, ...]) -> None:
    wrong = sorted(
        f"{m} -> {d}"
        for m, deps in import_graph().items()
        if in_part(m, part)
        for d in deps
        if any(in_part(d, f) for f in forbidden)
    )
    assert wrong == []


# ---- routes live in api/ ---------------------------------------------------------------------


def _route_definitions(mod: Module) -> list[str]:
    found = []
    for node in ast.walk(mod.tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            if name in ROUTE_BUILDERS or name in {"add_route", "add_api_route", "include_router", "mount"}:
                found.append(f"{mod.name}:{node.lineno} {name}()")
        if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef):
            for deco in node.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                if isinstance(target, ast.Attribute) and target.attr in ROUTE_DECORATORS:
                    found.append(f"{mod.name}:{deco.lineno} @{target.attr}")
    return found


def test_routes_are_defined_in_api_only() -> None:
    outside = [
        hit
        for name, mod in modules().items()
        if not in_part(name, "api") and not in_part(name, "client")
        for hit in _route_definitions(mod)
    ]
    assert outside == []
    assert any(
        _route_definitions(m) for n, m in modules().items() if in_part(n, "api")
    )  # the check sees them


# ---- one exception hierarchy, one status enum, declared engine hooks --------------------------


def test_every_exception_class_derives_from_the_one_base() -> None:
    seen = 0
    for name in modules():
        if name.endswith("__main__"):
            continue  # runs the CLI when imported
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != name or not issubclass(cls, BaseException):
                continue
            seen += 1
            base = KlingClientError if in_part(name, "client") else GatewayError
            assert issubclass(cls, base), f"{name}.{cls.__name__} does not derive from {base.__name__}"
    assert seen >= 20


def _status_literals(tree: ast.AST) -> Iterator[ast.Constant]:
    """Status words compared with something or passed as a ``*status*`` keyword argument."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            places: list[ast.AST] = [node.left, *node.comparators]
        elif isinstance(node, ast.keyword) and node.arg and "status" in node.arg:
            places = [node.value]
        else:
            continue
        for place in places:
            for leaf in ast.walk(place):
                if isinstance(leaf, ast.Constant) and leaf.value in STATUS_WORDS:
                    yield leaf


def test_task_status_strings_are_spelled_once() -> None:
    """Statuses are ``TaskStatus`` members; the wire strings appear only where the enum is defined."""
    assert [c.value for c in _status_literals(ast.parse('s == "failed" or f(to_status="succeed")'))] == [
        "failed",
        "succeed",
    ]
    hits = [
        f"{name}:{node.lineno} {node.value!r}"
        for name, mod in modules().items()
        if name != "kling_gateway.schemas.tasks"
        for node in _status_literals(mod.tree)
    ]
    assert hits == []


def test_engine_hooks_are_called_not_probed() -> None:
    """Every hook is on the ``Engine`` protocol; nobody asks ``getattr(engine, "admit", None)``."""
    probes = [
        f"{name}:{node.lineno}"
        for name, mod in modules().items()
        for node in ast.walk(mod.tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in {"getattr", "hasattr"}
        and len(node.args) >= 2
        and isinstance(node.args[1], ast.Constant)
        and node.args[1].value in ENGINE_HOOKS | {"dispatcher", "longpoll", "store", "owner", "wake"}
    ]
    assert probes == []
