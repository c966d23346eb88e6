"""The asyncio client: drives the shared plans over :class:`httpx.AsyncClient`."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx

from ..schemas import CreatedTask, Task
from ..schemas.selection import InitSelectionData
from .core import ClientCore, PollPolicy, ProgressCallback, TaskRef
from .download import CHUNK, Fetch, FetchOutcome, fetch_headers, write_mode
from .layout import Layout
from .methods import FamilyMethods
from .standard2 import AsyncStandard2
from .transport import Plan, Progress, RetryPolicy, Sleep, plan_result

T = TypeVar("T")


class AsyncKlingClient(FamilyMethods[Coroutine[Any, Any, CreatedTask], Coroutine[Any, Any, Task]]):
    """Kling API client for asyncio; same arguments and methods as :class:`KlingClient`, awaited.

    ``on_progress`` callbacks may be plain functions or coroutine functions.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        layout: Layout | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        poll: PollPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
    ):
        self.core = ClientCore(
            base_url,
            api_key=api_key,
            access_key=access_key,
            secret_key=secret_key,
            layout=layout,
            timeout=timeout,
            retry=retry,
            poll=poll,
        )
        self.standard2 = AsyncStandard2(self)  # the new API standard (model paths, /tasks)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout, follow_redirects=True)

    @property
    def layout(self) -> Layout:
        return self.core.endpoint.layout

    # ---- plumbing ------------------------------------------------------------------------

    async def _run(self, plan: Plan[T]) -> T:
        outcome: Any = None
        while True:
            try:
                step = plan.send(outcome)
            except StopIteration as stop:
                return plan_result(plan, stop)
            if isinstance(step, httpx.Request):
                try:
                    outcome = await self._http.send(step)
                except httpx.TransportError as exc:
                    outcome = exc
            elif isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
                outcome = None
            elif isinstance(step, Progress):
                result = step.callback(step.value)
                if inspect.isawaitable(result):
                    await result
                outcome = None
            elif isinstance(step, Fetch):
                outcome = await self._fetch(step)
            else:  # pragma: no cover - a plan bug
                raise TypeError(f"unknown plan step {step!r}")

    async def _fetch(self, step: Fetch) -> FetchOutcome:
        outcome = FetchOutcome()
        try:
            async with self._http.stream("GET", step.url, headers=fetch_headers(step)) as response:
                outcome.status, outcome.headers = response.status_code, response.headers
                mode = write_mode(response.status_code, response.headers, step.offset)
                if mode is None:
                    await response.aread()
                    outcome.response = response
                    return outcome
                # Plain file writes: chunks are small and local disks fast; no thread hop per chunk.
                with open(step.part, mode) as out:
                    async for chunk in response.aiter_raw(CHUNK):
                        out.write(chunk)
        except httpx.TransportError as exc:
            outcome.error = exc
        return outcome

    def _create(self, family: str, request: Any, fields: dict[str, Any]) -> Coroutine[Any, Any, CreatedTask]:
        return self._run(self.core.create(family, request, fields))

    def _run_sync(self, family: str, request: Any, fields: dict[str, Any]) -> Coroutine[Any, Any, Task]:
        return self._run(self.core.run_sync(family, request, fields))

    # ---- API -----------------------------------------------------------------------------

    async def create(self, family: str, body: Any = None, /, **fields: Any) -> CreatedTask:
        """Create a task of any family (``"videos/text2video"``) from a model, a mapping or fields."""
        return await self._create(family, body, fields)

    async def get_task(self, family: str, task_id: str, *, wait: float = 0) -> Task:
        """Query one task by ``task_id`` or ``external_task_id``; ``wait`` long-polls."""
        return await self._run(self.core.get_task(family, task_id, wait=wait))

    async def list_tasks(
        self, family: str, *, page_size: int = 30, max_pages: int | None = None
    ) -> AsyncIterator[Task]:
        """Every task of a family, newest first, page after page."""
        page = 1
        while max_pages is None or page <= max_pages:
            tasks = await self._run(self.core.list_page(family, page, page_size))
            for task in tasks:
                yield task
            if len(tasks) < page_size:
                return
            page += 1

    async def wait(
        self,
        task: TaskRef,
        *,
        family: str | None = None,
        timeout: float | None = 900.0,
        on_progress: ProgressCallback | None = None,
    ) -> Task:
        """Until success (returned), failure (:class:`TaskFailedError`) or timeout (:class:`WaitTimeoutError`)."""
        return await self._run(self.core.wait(task, family=family, timeout=timeout, on_progress=on_progress))

    async def download(
        self,
        task: TaskRef,
        dest: str | os.PathLike[str],
        *,
        family: str | None = None,
        timeout: float | None = 900.0,
    ) -> list[Path]:
        """Save every result file under ``dest`` (a directory, or a file name for one result)."""
        return await self._run(self.core.download(task, dest, family=family, timeout=timeout))

    async def preset_elements(self, *, page: int = 1, page_size: int = 30) -> list[Task]:
        """The official elements (``general/advanced-presets-elements``), one page."""
        return await self._run(self.core.preset_elements(page, page_size))

    async def delete_element(self, element_id: int | str) -> dict[str, Any]:
        """Delete an element of this account (``general/delete-advanced-elements``)."""
        return await self._run(self.core.delete_element(element_id))

    async def list_page(self, family: str, *, page: int = 1, page_size: int = 30) -> list[Task]:
        """One page of a family's tasks (``pageNum``/``pageSize``), newest first."""
        return await self._run(self.core.list_page(family, page, page_size))

    async def preset_voices(self, *, page: int = 1, page_size: int = 30) -> list[Task]:
        """The preset voices (``general/presets-voices``), one page; each has a trial mp3."""
        return await self._run(self.core.preset_voices(page, page_size))

    async def delete_voice(self, voice_id: str) -> dict[str, Any]:
        """Delete a custom voice of this account (``general/delete-voices``)."""
        return await self._run(self.core.delete_voice(voice_id))

    async def init_selection(self, request: Any = None, /, **fields: Any) -> InitSelectionData:
        return await self._run(self.core.init_selection(request, fields))

    async def add_selection(self, request: Any = None, /, **fields: Any) -> dict[str, Any]:
        return await self._run(self.core.selection("add-selection", request, fields))

    async def delete_selection(self, request: Any = None, /, **fields: Any) -> dict[str, Any]:
        return await self._run(self.core.selection("delete-selection", request, fields))

    async def clear_selection(self, request: Any = None, /, **fields: Any) -> dict[str, Any]:
        return await self._run(self.core.selection("clear-selection", request, fields))

    async def preview_selection(self, request: Any = None, /, **fields: Any) -> dict[str, Any]:
        return await self._run(self.core.selection("preview-selection", request, fields))

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncKlingClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
