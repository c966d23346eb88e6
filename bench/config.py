"""Sizes and durations of one benchmark run: the full run and the ``--quick`` smoke run."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

LoadTool = Literal["auto", "wrk", "python"]


@dataclass(frozen=True)
class Clip:
    """A reference-engine render: a label, the frame size and the video length."""

    label: str
    width: int
    height: int
    seconds: float
    fps: int = 24


FULL_CLIPS = (
    Clip("720p 5 s", 1280, 720, 5),
    Clip("720p 10 s", 1280, 720, 10),
    Clip("1080p 5 s", 1920, 1080, 5),
    Clip("1080p 10 s", 1920, 1080, 10),
)


@dataclass(frozen=True)
class BenchConfig:
    quick: bool = False
    load_tool: LoadTool = "auto"
    # store
    tasks: int = 100_000  # tasks of the main account (the list benchmark pages through them)
    other_accounts: int = 3
    other_tasks: int = 5_000  # tasks of each other account
    query_ids: int = 1_000  # distinct finished text2video tasks the query load cycles over
    # load
    connections: int = 32
    duration: float = 5.0  # seconds per measured load run
    warmup: float = 1.0  # seconds of unmeasured load before the measured runs
    runs: int = 3  # medians are taken over this many runs
    # memory
    memory_warmup_queries: int = 10_000
    memory_queries: int = 200_000
    memory_time_cap: float = 150.0  # stop early (and say so) when the gateway is slower than this allows
    memory_chunk: float = 10.0
    # reference engine
    clips: tuple[Clip, ...] = FULL_CLIPS
    saturation_tasks: int = 12  # text2video tasks queued to keep the engine busy
    saturation_body: str = (
        '{"model_name":"kling-v2-6","mode":"pro","duration":"10","prompt":"bench: a lighthouse at dusk"}'
    )
    # profile
    profile_seconds: float = 8.0
    # cpu (in-process CPU per request)
    cpu_requests: int = 2_000

    @property
    def deep_page(self) -> int:
        """The deepest full page of 30 (pageNum is capped at 1000 by the API)."""
        text2video = int(self.tasks * 0.8)
        return max(1, min(1000, text2video // 30))


def quick(config: BenchConfig) -> BenchConfig:
    """Tiny sizes for the smoke test: every code path runs, no number means anything."""
    return replace(
        config,
        quick=True,
        tasks=300,
        other_accounts=1,
        other_tasks=100,
        query_ids=50,
        connections=8,
        duration=0.5,
        warmup=0.1,
        runs=1,
        memory_warmup_queries=200,
        memory_queries=1_000,
        memory_time_cap=4.0,
        memory_chunk=1.0,
        clips=(Clip("720p 0.5 s", 1280, 720, 0.5), Clip("1080p 0.5 s", 1920, 1080, 0.5)),
        saturation_tasks=3,
        saturation_body='{"model_name":"kling-v2-6","duration":"5","prompt":"bench: a lighthouse at dusk"}',
        profile_seconds=1.0,
        cpu_requests=200,
    )
