"""What every measurement is given: the config, a temporary work directory, the seeded store."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from .config import BenchConfig
from .load import LoadResult, LoadSpec, run_load, tool_description
from .seed import SeededStore, seed_store


class BenchContext:
    def __init__(self, config: BenchConfig, root: Path | None = None):
        self.config = config
        self._own_root = root is None
        self.root = root or Path(tempfile.mkdtemp(prefix="kling-bench-"))
        self._seeded: SeededStore | None = None

    @property
    def load_tool(self) -> str:
        return tool_description(self.config.load_tool)

    def seeded(self) -> SeededStore:
        """The shared store (read-only benchmarks); seeded once per run."""
        if self._seeded is None:
            self._seeded = seed_store(self.root / "store", self.config)
        return self._seeded

    def private_store(self, name: str) -> SeededStore:
        """A copy of the seeded store for a benchmark that writes to it."""
        return self.seeded().copy(self.root / name)

    def spec(
        self,
        base_url: str,
        paths: tuple[str, ...],
        headers: tuple[tuple[str, str], ...] = (),
        *,
        method: str = "GET",
        body: str | None = None,
        duration: float | None = None,
    ) -> LoadSpec:
        return LoadSpec(
            base_url,
            paths,
            method,
            headers,
            body,
            self.config.connections,
            self.config.duration if duration is None else duration,
        )

    def load(self, spec: LoadSpec) -> LoadResult:
        return run_load(spec, self.config.load_tool)

    def close(self) -> None:
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> BenchContext:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
