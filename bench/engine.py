"""4a. Reference engine: seconds of video per wall-clock second, in-process, one thread on one core."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from . import report
from .context import BenchContext
from .load import REPO_ROOT, child_env

REALTIME_FLOOR = 5.0  # for 720p


def render_times(ctx: BenchContext) -> dict[str, object]:
    cpu = max(os.sched_getaffinity(0))
    job = {
        "cpu": cpu,
        "runs": ctx.config.runs,
        "clips": [[c.width, c.height, c.fps, c.seconds] for c in ctx.config.clips],
    }
    env = {**child_env(), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "bench.render"],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=900,
    )
    if out.returncode != 0:
        raise RuntimeError(f"render child failed: {out.stderr[-2000:]}")
    line = next(x for x in out.stdout.splitlines() if x.startswith("BENCH_JSON "))
    return {"cpu": cpu, **json.loads(line[len("BENCH_JSON ") :])}


def run(ctx: BenchContext) -> report.Section:
    result = render_times(ctx)
    section = report.Section(
        "engine",
        "Reference engine: render speed on one core",
        intro=(
            "text2video-like clips drawn and encoded to MP4 (H.264) in one process pinned to one core "
            f"(CPU {result['cpu']}), one encoder thread, through "
            "`kling_gateway.engines.reference.bench.render_seconds`, after a warm-up render. The baseline is "
            f"real time: the ratio is seconds of video per wall-clock second (median of {report.plural(ctx.config.runs, 'run')})."
        ),
    )
    if "error" in result:
        section.notes.append(f"not measured: {result['error']}")
        return section
    table = report.Table(["clip", "size", "fps", "frames", "wall s (median)", "× real time", "target"])
    for clip, runs in zip(ctx.config.clips, result["seconds"], strict=True):  # type: ignore[arg-type]
        wall = report.median(runs)
        speed = clip.seconds / wall
        slug = clip.label.replace(" ", "_")
        section.metrics[f"engine.{slug}.wall_s"] = wall
        section.metrics[f"engine.{slug}.realtime"] = speed
        target = "—"
        if clip.height == 720:
            verdict = report.Verdict(
                f"engine {clip.label} ≥ {REALTIME_FLOOR:g}× real time on one core",
                report.ratio(speed),
                speed >= REALTIME_FLOOR,
            )
            section.verdicts.append(verdict)
            target = f"≥ {REALTIME_FLOOR:g}×: {verdict.mark}"
        frames = round(clip.seconds * clip.fps)
        table.add(
            clip.label,
            f"{clip.width}×{clip.height}",
            clip.fps,
            f"~{frames}",
            f"{wall:.2f}",
            report.ratio(speed),
            target,
        )
    section.tables.append(table)
    section.commands += [
        "python -m bench engine",
        "taskset -c 0 python -m kling_gateway.engines.reference.bench 1280 720 24 5   # one clip",
    ]
    return section
