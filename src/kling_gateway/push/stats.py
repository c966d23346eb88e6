"""Counting SQL statements a process sends, to show what waiting clients cost the store."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


class QueryCounter:
    def __init__(self) -> None:
        self.count = 0
        self._engines: list[AsyncEngine] = []

    def _on_execute(self, *_args: Any) -> None:
        self.count += 1

    def attach(self, *engines: AsyncEngine) -> None:
        for engine in engines:
            if any(engine is seen for seen in self._engines):
                continue
            event.listen(engine.sync_engine, "after_cursor_execute", self._on_execute)
            self._engines.append(engine)

    def detach(self) -> None:
        for engine in self._engines:
            event.remove(engine.sync_engine, "after_cursor_execute", self._on_execute)
        self._engines = []
