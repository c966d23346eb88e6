"""Child process for the profile: the gateway app exactly as ``kling-gateway serve`` builds it,
under pyinstrument (or cProfile when pyinstrument is not installed).

``GET /__bench/profile/start`` and ``/__bench/profile/stop`` switch the profiler on and off from
inside the event loop thread (so start-up is not in the profile); on stop the aggregated top
functions are written as JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from kling_gateway.api import create_app
from kling_gateway.config import load_settings

TOP = 15
CONTROL = "/__bench/profile/"


class _Pyinstrument:
    name = "pyinstrument"

    def __init__(self) -> None:
        from pyinstrument import Profiler

        self.profiler = Profiler(interval=0.0005, async_mode="disabled")

    def start(self) -> None:
        self.profiler.start()

    def stop(self) -> dict[str, Any]:
        from importlib.metadata import version

        session = self.profiler.stop()
        root = session.root_frame()
        total = root.time if root is not None else 0.0
        own: dict[tuple[str, str], float] = {}
        inclusive: dict[tuple[str, str], float] = {}

        def walk(frame: Any, stack: frozenset[tuple[str, str]]) -> None:
            key = (frame.function, f"{frame.file_path_short}:{frame.line_no}")
            own[key] = own.get(key, 0.0) + frame.total_self_time
            if key not in stack:
                inclusive[key] = inclusive.get(key, 0.0) + frame.time
            for child in frame.children:
                if not child.is_synthetic:
                    walk(child, stack | {key})

        if root is not None:
            walk(root, frozenset())
        return {
            "tool": f"pyinstrument {version('pyinstrument')}",
            "total_s": total,
            "samples": session.sample_count,
            "own": _top(own, total),
            "inclusive": _top(inclusive, total),
        }


class _CProfile:
    name = "cProfile"

    def __init__(self) -> None:
        self.profiler = cProfile.Profile()

    def start(self) -> None:
        self.profiler.enable()

    def stop(self) -> dict[str, Any]:
        self.profiler.disable()
        stats = pstats.Stats(self.profiler).stats  # type: ignore[attr-defined]
        own = {(f, f"{path}:{line}"): v[2] for (path, line, f), v in stats.items()}
        inclusive = {(f, f"{path}:{line}"): v[3] for (path, line, f), v in stats.items()}
        total = sum(own.values())
        return {
            "tool": "cProfile (deterministic: inflates call-heavy code)",
            "total_s": total,
            "samples": 0,
            "own": _top(own, total),
            "inclusive": _top(inclusive, total),
        }


def _top(times: dict[tuple[str, str], float], total: float) -> list[dict[str, Any]]:
    ranked = sorted(times.items(), key=lambda kv: kv[1], reverse=True)
    return [
        {"function": f, "location": loc, "seconds": s, "percent": 100 * s / total if total else 0.0}
        for (f, loc), s in ranked[: TOP * 8]
    ]


def make_profiler() -> _Pyinstrument | _CProfile:
    try:
        return _Pyinstrument()
    except ImportError:
        return _CProfile()


class Controlled:
    """Wraps the gateway app; answers the two control paths itself."""

    def __init__(self, app: ASGIApp, out: Path):
        self.app = app
        self.out = out
        self.profiler = make_profiler()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(CONTROL):
            action = scope["path"][len(CONTROL) :]
            if action == "start":
                self.profiler.start()
            elif action == "stop":
                self.out.write_text(json.dumps(self.profiler.stop()))
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        await self.app(scope, receive, send)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    settings = load_settings(None, data_dir=args.data_dir, host="127.0.0.1", port=args.port, workers=0)
    app = Controlled(create_app(settings), args.out)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        proxy_headers=True,
        server_header=False,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
