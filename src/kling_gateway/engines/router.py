"""Choosing the engine for a new task, and finding it again by name for a stored one."""

from __future__ import annotations

from collections.abc import Iterable

from .base import Engine


class EngineRouter:
    """Engines in priority order; the first that serves a family and model takes the task."""

    def __init__(self, engines: Iterable[Engine] = ()):
        self._engines: dict[str, Engine] = {}
        for engine in engines:
            self.add(engine)

    def add(self, engine: Engine) -> None:
        self._engines[engine.name] = engine

    def pick(self, family: str, model_name: str | None) -> str | None:
        for name, engine in self._engines.items():
            if engine.serves(family, model_name):
                return name
        return None

    def get(self, name: str | None) -> Engine | None:
        return self._engines.get(name or "")

    @property
    def engines(self) -> list[Engine]:
        return list(self._engines.values())

    @property
    def names(self) -> list[str]:
        return list(self._engines)

    async def close(self) -> None:
        for engine in self._engines.values():
            await engine.close()
