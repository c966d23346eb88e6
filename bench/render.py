"""Child process for the engine benchmark: renders clips in-process, pinned to one core.

Reads ``{"cpu": N, "runs": R, "clips": [[w, h, fps, seconds], ...]}`` on stdin and prints
``BENCH_JSON {"seconds": [[run, ...], ...]}`` (wall seconds per render, from
``kling_gateway.engines.reference.bench.render_seconds``).
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    job = json.loads(sys.stdin.read())
    os.sched_setaffinity(0, {int(job["cpu"])})
    try:
        from kling_gateway.engines.reference.bench import render_seconds
    except ImportError as exc:
        print("BENCH_JSON " + json.dumps({"error": f"no in-process render entry point: {exc}"}), flush=True)
        return
    render_seconds(320, 180, 24, 0.25)  # warm-up: codec set-up, lazy imports
    seconds = [
        [render_seconds(int(w), int(h), int(fps), float(s)) for _ in range(int(job["runs"]))]
        for w, h, fps, s in job["clips"]
    ]
    print("BENCH_JSON " + json.dumps({"seconds": seconds}), flush=True)


if __name__ == "__main__":
    main()
