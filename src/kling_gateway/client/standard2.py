"""The new API standard in the SDK (kling-api-more.md §3–5): create on a model path, read
records through ``GET /tasks``, cursor-list with ``POST /tasks``, wait and download.

Reached as ``client.standard2`` on :class:`~kling_gateway.client.KlingClient` (blocking) and
:class:`~kling_gateway.client.AsyncKlingClient`. Records are shown as they come; for failures and
downloads a record is read as the task it presents (:func:`record_task`), so the errors and file
handling are the legacy client's. The new standard takes API keys only (a JWT is refused, 1002).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from ..schemas import Task
from ..schemas.standard2 import ContentsBody, CreatedRecord, Record, RecordPage, RecordStatus, TextToVideoBody
from ..standard2.products import PRODUCTS
from .core import ClientCore, parse_value
from .download import download_all
from .errors import ConfigurationError, KlingAPIError, TaskFailedError, WaitTimeoutError
from .transport import Plan, Progress, Sleep

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
RecordProgress = Callable[[Record], Any]
TERMINAL = (RecordStatus.SUCCEEDED, RecordStatus.FAILED)


def record_task(record: Record) -> Task:
    """The record as a legacy task object (``succeeded`` → ``succeed``, outputs → task_result)."""
    videos = [o.model_dump(exclude={"type"}, exclude_none=True) for o in record.outputs if o.type == "video"]
    images = [
        {"index": i, **o.model_dump(exclude={"type"}, exclude_none=True)}
        for i, o in enumerate(o for o in record.outputs if o.type == "image")
    ]
    audios = [
        {"id": o.id, "url_mp3": getattr(o, "mp3_url", None), "url_wav": getattr(o, "wav_url", None)}
        for o in record.outputs
        if o.type == "audio"
    ]
    result: dict[str, Any] = {
        k: v for k, v in (("videos", videos), ("images", images), ("audios", audios)) if v
    }
    units = [b.amount for b in record.billing if b.charge_type == "unit"]
    return Task.model_validate(
        {
            "task_id": record.id,
            "task_status": RecordStatus(record.status).task_status,
            "task_status_msg": record.message,
            "task_info": {"external_task_id": record.external_id} if record.external_id else {},
            "task_result": result,
            "final_unit_deduction": units[0] if units else None,
            "created_at": record.create_time,
            "updated_at": record.update_time,
        }
    )


def split_target(target: str) -> tuple[str, str]:
    """``"text-to-video/kling-3.0"`` → (product, model)."""
    product, _, model = target.strip("/").partition("/")
    if product not in PRODUCTS or not model:
        raise ConfigurationError(
            f"{target!r}: expected <product>/<model>, product one of {', '.join(PRODUCTS)}"
        )
    return product, model


class Standard2Core:
    """The new standard's calls as plans, on the client's endpoint, credentials and retries."""

    def __init__(self, core: ClientCore):
        self.core = core

    def url(self, path: str) -> str:
        endpoint = self.core.endpoint
        mount = "/kling" if endpoint.layout == "cometapi" else ""
        return f"{endpoint.root}{mount}/{path.lstrip('/')}"

    def create(self, product: str, model: str, body: Mapping[str, Any]) -> Plan[CreatedRecord]:
        if product not in PRODUCTS:
            raise ConfigurationError(f"unknown product {product!r} (one of {', '.join(PRODUCTS)})")
        shape = TextToVideoBody if PRODUCTS[product].takes_prompt else ContentsBody
        try:
            shape.model_validate(body)
        except ValidationError as exc:
            raise ConfigurationError(f"{product} body: {exc.errors(include_url=False)[0]['msg']}") from None
        reply = yield from self.core.caller.call("POST", self.url(f"{product}/{model}"), body=dict(body))
        return parse_value(CreatedRecord, reply.data, reply)

    def records(
        self, task_ids: list[str] | None = None, external_task_ids: list[str] | None = None
    ) -> Plan[list[Record]]:
        if (task_ids is None) == (external_task_ids is None):
            raise ConfigurationError("give task_ids or external_task_ids (one of them)")
        key, ids = (
            ("task_ids", task_ids) if task_ids is not None else ("external_task_ids", external_task_ids)
        )
        assert ids is not None
        reply = yield from self.core.caller.call("GET", self.url("tasks"), params={key: ",".join(ids)})
        if not isinstance(reply.data, list):
            raise KlingAPIError(
                None, "GET /tasks did not return an array", reply.request_id, reply.status_code
            )
        return [parse_value(Record, item, reply) for item in reply.data]

    def page(self, body: Mapping[str, Any]) -> Plan[RecordPage]:
        reply = yield from self.core.caller.call("POST", self.url("tasks"), body=dict(body))
        return parse_value(RecordPage, reply.data, reply)

    def wait(
        self, task_id: str, *, timeout: float | None = 900.0, on_progress: RecordProgress | None = None
    ) -> Plan[Record]:
        """Until ``succeeded`` (returned) or ``failed`` (:class:`TaskFailedError`); polls
        ``GET /tasks`` with the client's backoff (the new standard has no long-poll)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        seen: str | None = None
        interval: float | None = None
        while True:
            found = yield from self.records(task_ids=[task_id])
            if not found:
                raise KlingAPIError(1203, f"task {task_id} not found", None, 200)
            record = found[0]
            if on_progress is not None and record.status != seen:
                yield Progress(on_progress, record)
            changed = seen is not None and record.status != seen
            seen = record.status
            if record.status == RecordStatus.FAILED:
                raise TaskFailedError(record_task(record))
            if record.status == RecordStatus.SUCCEEDED:
                return record
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise WaitTimeoutError(task_id, timeout, record_task(record))
            poll = self.core.poll
            interval = None if changed else poll.next_interval(interval)
            delay = poll.jittered(interval or poll.interval)
            yield Sleep(delay if remaining is None else min(delay, remaining))

    def download(
        self, task: str | Record, dest: str | os.PathLike[str], *, timeout: float | None = 900.0
    ) -> Plan[list[Path]]:
        record = task if isinstance(task, Record) and task.status == RecordStatus.SUCCEEDED else None
        if record is None:
            record = yield from self.wait(task.id if isinstance(task, Record) else task, timeout=timeout)
        return (yield from download_all(record_task(record), dest, self.core.retry))


class _SyncRunner(Protocol):
    core: ClientCore

    def _run(self, plan: Plan[T]) -> T: ...


class _AsyncRunner(Protocol):
    core: ClientCore

    def _run(self, plan: Plan[T]) -> Awaitable[T]: ...


class Standard2:
    """``client.standard2`` of the blocking client."""

    def __init__(self, client: _SyncRunner):
        self._client = client
        self.core = Standard2Core(client.core)

    def create(self, target: str, body: Mapping[str, Any] | None = None, /, **fields: Any) -> CreatedRecord:
        """``create("text-to-video/kling-3.0", prompt=..., settings={...})``."""
        product, model = split_target(target)
        return self._client._run(self.core.create(product, model, {**(body or {}), **fields}))

    def text_to_video(self, model: str, prompt: str, **fields: Any) -> CreatedRecord:
        return self.create(f"text-to-video/{model}", prompt=prompt, **fields)

    def image_to_video(self, model: str, contents: list[dict[str, Any]], **fields: Any) -> CreatedRecord:
        return self.create(f"image-to-video/{model}", contents=contents, **fields)

    def omni_video(self, model: str, contents: list[dict[str, Any]], **fields: Any) -> CreatedRecord:
        return self.create(f"omni-video/{model}", contents=contents, **fields)

    def motion_control(self, model: str, contents: list[dict[str, Any]], **fields: Any) -> CreatedRecord:
        return self.create(f"motion-control/{model}", contents=contents, **fields)

    def get(
        self, task_ids: list[str] | None = None, *, external_task_ids: list[str] | None = None
    ) -> list[Record]:
        """``GET /tasks``: up to 20 records by id or external id (unknown ones left out)."""
        return self._client._run(self.core.records(task_ids, external_task_ids))

    def list_all(
        self, *, limit: int = 100, filters: list[dict[str, Any]] | None = None, **times: int
    ) -> Iterator[Record]:
        """Every record, newest first, following ``next_cursor`` as it is iterated."""
        body: dict[str, Any] = {"limit": limit, **times, **({"filters": filters} if filters else {})}
        while True:
            page = self._client._run(self.core.page(body))
            yield from page.result
            if not page.has_more:
                return
            body = {"limit": limit, "cursor": page.next_cursor, **({"filters": filters} if filters else {})}

    def wait(
        self, task_id: str, *, timeout: float | None = 900.0, on_progress: RecordProgress | None = None
    ) -> Record:
        return self._client._run(self.core.wait(task_id, timeout=timeout, on_progress=on_progress))

    def download(
        self, task: str | Record, dest: str | os.PathLike[str], *, timeout: float | None = 900.0
    ) -> list[Path]:
        return self._client._run(self.core.download(task, dest, timeout=timeout))


class AsyncStandard2:
    """``client.standard2`` of the async client."""

    def __init__(self, client: _AsyncRunner):
        self._client = client
        self.core = Standard2Core(client.core)

    async def create(
        self, target: str, body: Mapping[str, Any] | None = None, /, **fields: Any
    ) -> CreatedRecord:
        product, model = split_target(target)
        return await self._client._run(self.core.create(product, model, {**(body or {}), **fields}))

    async def get(
        self, task_ids: list[str] | None = None, *, external_task_ids: list[str] | None = None
    ) -> list[Record]:
        return await self._client._run(self.core.records(task_ids, external_task_ids))

    async def list_all(
        self, *, limit: int = 100, filters: list[dict[str, Any]] | None = None, **times: int
    ) -> AsyncIterator[Record]:
        body: dict[str, Any] = {"limit": limit, **times, **({"filters": filters} if filters else {})}
        while True:
            page = await self._client._run(self.core.page(body))
            for record in page.result:
                yield record
            if not page.has_more:
                return
            body = {"limit": limit, "cursor": page.next_cursor, **({"filters": filters} if filters else {})}

    async def wait(
        self, task_id: str, *, timeout: float | None = 900.0, on_progress: RecordProgress | None = None
    ) -> Record:
        return await self._client._run(self.core.wait(task_id, timeout=timeout, on_progress=on_progress))

    async def download(
        self, task: str | Record, dest: str | os.PathLike[str], *, timeout: float | None = 900.0
    ) -> list[Path]:
        return await self._client._run(self.core.download(task, dest, timeout=timeout))
