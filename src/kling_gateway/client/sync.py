"""The blocking client: drives the shared plans over :class:`httpx.Client`."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx

from ..schemas import CreatedTask, Task
from ..schemas.selection import InitSelectionData
from .core import ClientCore, PollPolicy, ProgressCallback, TaskRef
from .download import CHUNK, Fetch, FetchOutcome, fetch_headers, write_mode
from .layout import Layout
from .methods import FamilyMethods
from .standard2 import Standard2
from .transport import Plan, Progress, RetryPolicy, Sleep, plan_result

T = TypeVar("T")


class KlingClient(FamilyMethods[CreatedTask, Task]):
    """Kling API client (blocking).

    ``base_url`` ending in ``/kling`` or ``/kling/v1`` selects the CometAPI layout, anything else
    the official ``/v1`` (``layout=`` overrides). Credentials: ``api_key`` (Bearer), or
    ``access_key`` + ``secret_key`` (HS256 JWT, minted and refreshed here). Unset arguments come
    from ``KLING_BASE_URL``, ``KLING_API_KEY``, ``KLING_ACCESS_KEY``, ``KLING_SECRET_KEY``.
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
        http_client: httpx.Client | None = None,
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
        self.standard2 = Standard2(self)  # the new API standard (model paths, /tasks)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout, follow_redirects=True)

    @property
    def layout(self) -> Layout:
        return self.core.endpoint.layout

    # ---- plumbing ------------------------------------------------------------------------

    def _run(self, plan: Plan[T]) -> T:
        outcome: Any = None
        while True:
            try:
                step = plan.send(outcome)
            except StopIteration as stop:
                return plan_result(plan, stop)
            if isinstance(step, httpx.Request):
                try:
                    outcome = self._http.send(step)
                except httpx.TransportError as exc:
                    outcome = exc
            elif isinstance(step, Sleep):
                time.sleep(step.seconds)
                outcome = None
            elif isinstance(step, Progress):
                step.callback(step.value)
                outcome = None
            elif isinstance(step, Fetch):
                outcome = self._fetch(step)
            else:  # pragma: no cover - a plan bug
                raise TypeError(f"unknown plan step {step!r}")

    def _fetch(self, step: Fetch) -> FetchOutcome:
        outcome = FetchOutcome()
        try:
            with self._http.stream("GET", step.url, headers=fetch_headers(step)) as response:
                outcome.status, outcome.headers = response.status_code, response.headers
                mode = write_mode(response.status_code, response.headers, step.offset)
                if mode is None:
                    response.read()
                    outcome.response = response
                    return outcome
                with open(step.part, mode) as out:
                    for chunk in response.iter_raw(CHUNK):
                        out.write(chunk)
        except httpx.TransportError as exc:
            outcome.error = exc
        return outcome

    def _create(self, family: str, request: Any, fields: dict[str, Any]) -> CreatedTask:
        return self._run(self.core.create(family, request, fields))

    def _run_sync(self, family: str, request: Any, fields: dict[str, Any]) -> Task:
        return self._run(self.core.run_sync(family, request, fields))

    # ---- API -----------------------------------------------------------------------------

    def create(self, family: str, body: Any = None, /, **fields: Any) -> CreatedTask:
        """Create a task of any family (``"videos/text2video"``) from a model, a mapping or fields."""
        return self._create(family, body, fields)

    def get_task(self, family: str, task_id: str, *, wait: float = 0) -> Task:
        """Query one task by ``task_id`` or ``external_task_id``; ``wait`` long-polls (``Prefer: wait=N``)."""
        return self._run(self.core.get_task(family, task_id, wait=wait))

    def list_tasks(self, family: str, *, page_size: int = 30, max_pages: int | None = None) -> Iterator[Task]:
        """Every task of a family, newest first, fetching page after page as it is iterated."""
        page = 1
        while max_pages is None or page <= max_pages:
            tasks = self._run(self.core.list_page(family, page, page_size))
            yield from tasks
            if len(tasks) < page_size:
                return
            page += 1

    def wait(
        self,
        task: TaskRef,
        *,
        family: str | None = None,
        timeout: float | None = 900.0,
        on_progress: ProgressCallback | None = None,
    ) -> Task:
        """Block until the task succeeds (returned), fails (:class:`TaskFailedError`) or ``timeout``
        passes (:class:`WaitTimeoutError`). ``family`` is needed only for tasks this client has not seen.
        ``on_progress(task)`` is called with the first state seen (``submitted`` too) and on every change."""
        return self._run(self.core.wait(task, family=family, timeout=timeout, on_progress=on_progress))

    def download(
        self,
        task: TaskRef,
        dest: str | os.PathLike[str],
        *,
        family: str | None = None,
        timeout: float | None = 900.0,
    ) -> list[Path]:
        """Save every result file under ``dest`` (a directory, or a file name for one result)."""
        return self._run(self.core.download(task, dest, family=family, timeout=timeout))

    def preset_elements(self, *, page: int = 1, page_size: int = 30) -> list[Task]:
        """The official elements (``general/advanced-presets-elements``), one page."""
        return self._run(self.core.preset_elements(page, page_size))

    def delete_element(self, element_id: int | str) -> dict[str, Any]:
        """Delete an element of this account (``general/delete-advanced-elements``)."""
        return self._run(self.core.delete_element(element_id))

    def list_page(self, family: str, *, page: int = 1, page_size: int = 30) -> list[Task]:
        """One page of a family's tasks (``pageNum``/``pageSize``), newest first."""
        return self._run(self.core.list_page(family, page, page_size))

    def preset_voices(self, *, page: int = 1, page_size: int = 30) -> list[Task]:
        """The preset voices (``general/presets-voices``), one page; each has a trial mp3."""
        return self._run(self.core.preset_voices(page, page_size))

    def delete_voice(self, voice_id: str) -> dict[str, Any]:
        """Delete a custom voice of this account (``general/delete-voices``)."""
        return self._run(self.core.delete_voice(voice_id))

    def init_selection(self, request: Any = None, /, **fields: Any) -> InitSelectionData:
        """Multi-elements step 1: open a selection session on ``video_id`` or ``video_url``."""
        return self._run(self.core.init_selection(request, fields))

    def add_selection(self, request: Any = None, /, **fields: Any) -> dict[str, Any]:
        """Multi-elements step 2: ``session_id``, ``frame_index``, ``points=[{"x", "y"}]``."""
        return self._run(self.core.selection("add-selection", request, fields))

    def delete_selection(self, request: Any = None, /, **fields: Any) -> dict[str, Any]:
        return self._run(self.core.selection("delete-selection", request, fields))

    def clear_selection(self, request: Any = None, /, **fields: Any) -> dict[str, Any]:
        return self._run(self.core.selection("clear-selection", request, fields))

    def preview_selection(self, request: Any = None, /, **fields: Any) -> dict[str, Any]:
        return self._run(self.core.selection("preview-selection", request, fields))

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> KlingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["KlingClient"]
