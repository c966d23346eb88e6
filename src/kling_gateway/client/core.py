"""What a client does, as plans (see ``transport``): create, query, list, wait, selection, download.

Both :class:`~kling_gateway.client.KlingClient` and :class:`~kling_gateway.client.AsyncKlingClient`
hold one :class:`ClientCore` and only drive its plans.
"""

from __future__ import annotations

import os
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from ..schemas import CreatedTask, Task, TaskStatus
from ..schemas.selection import (
    InitSelectionData,
    InitSelectionRequest,
    SelectionPointsRequest,
    SessionRequest,
)
from .auth import Credentials, credentials_from
from .download import download_all
from .errors import ConfigurationError, KlingAPIError, TaskFailedError, WaitTimeoutError
from .layout import Endpoint, Layout, resolve
from .requests import family_named, merge_request, prepare_create, validate_body
from .transport import Caller, Plan, Progress, Reply, RetryPolicy, Sleep, parse_retry_after

TaskRef = Task | CreatedTask | str
ProgressCallback = Callable[[Task], Any]
SELECTION_MODELS: dict[str, type[BaseModel]] = {
    "init-selection": InitSelectionRequest,
    "add-selection": SelectionPointsRequest,
    "delete-selection": SelectionPointsRequest,
    "clear-selection": SessionRequest,
    "preview-selection": SessionRequest,
}


@dataclass(frozen=True)
class PollPolicy:
    """How :meth:`wait` polls.

    ``long_poll`` is the ``Prefer: wait=N`` asked of the server (0 disables it). When an answer
    shows the server did not hold the request (same status, back well before N seconds, no
    ``Preference-Applied``) the client sleeps with exponential backoff and jitter, from
    ``interval`` up to ``max_interval``, before asking again.
    """

    long_poll: float = 20.0
    interval: float = 1.0
    max_interval: float = 15.0
    factor: float = 1.6
    jitter: float = 0.2

    def next_interval(self, previous: float | None) -> float:
        base = self.interval if previous is None else min(self.max_interval, previous * self.factor)
        return base

    def jittered(self, seconds: float) -> float:
        return max(0.0, seconds * (1 + random.uniform(-self.jitter, self.jitter)))


def long_poll_honoured(reply: Reply, asked: float) -> bool:
    """Did the server hold the request? It says so in ``Preference-Applied`` (RFC 7240), or it
    visibly took (most of) the time we asked for."""
    applied = reply.headers.get("preference-applied", "")
    if "wait" in applied.lower():
        return True
    return asked > 0 and reply.elapsed >= asked * 0.8


def settings_from_env(
    base_url: str | None,
    api_key: str | None,
    access_key: str | None,
    secret_key: str | None,
    env: Mapping[str, str] | None = None,
) -> tuple[str, Credentials]:
    env = os.environ if env is None else env
    base = base_url or env.get("KLING_BASE_URL")
    if not base:
        raise ConfigurationError("no base URL: pass base_url= or set KLING_BASE_URL")
    if not (api_key or access_key or secret_key):
        api_key = env.get("KLING_API_KEY") or None
        access_key = env.get("KLING_ACCESS_KEY") or None
        secret_key = env.get("KLING_SECRET_KEY") or None
    return base, credentials_from(api_key, access_key, secret_key)


class ClientCore:
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
    ):
        base, creds = settings_from_env(base_url, api_key, access_key, secret_key)
        self.endpoint: Endpoint = resolve(base, layout)
        self.credentials = creds
        self.retry = retry or RetryPolicy()
        self.poll = poll or PollPolicy()
        self.timeout = timeout
        self.caller = Caller(creds, self.retry)
        self._families: OrderedDict[str, str] = OrderedDict()  # task_id → family, for wait()/download()

    # ---- bookkeeping ---------------------------------------------------------------------

    def remember(self, task_id: str, family: str) -> None:
        self._families[task_id] = family
        self._families.move_to_end(task_id)
        while len(self._families) > 10_000:
            self._families.popitem(last=False)

    def family_of(self, task: TaskRef, family: str | None) -> str:
        task_id = task if isinstance(task, str) else task.task_id
        name = family or self._families.get(task_id)
        if name is None:
            raise ConfigurationError(f"task {task_id}: pass family= (this client did not create or fetch it)")
        return family_named(name).name

    # ---- calls ---------------------------------------------------------------------------

    def create(self, family: str, request: Any, fields: Mapping[str, Any]) -> Plan[CreatedTask]:
        fam = family_named(family)
        body = prepare_create(fam, request, fields)
        reply = yield from self.caller.call("POST", self.endpoint.url(fam.name), body=body)
        created = _parse(CreatedTask, reply)
        self.remember(created.task_id, fam.name)
        return created

    def run_sync(self, family: str, request: Any, fields: Mapping[str, Any]) -> Plan[Task]:
        """A synchronous family's call: the answer is the finished task."""
        fam = family_named(family)
        body = prepare_create(fam, request, fields)
        reply = yield from self.caller.call("POST", self.endpoint.url(fam.name), body=body)
        task: Task = _parse(Task, reply)
        return task

    def get_task(self, family: str, task_id: str, *, wait: float = 0) -> Plan[Task]:
        fam = family_named(family)
        _reply, task = yield from self._get(fam.name, task_id, wait)
        return task

    def _get(
        self, family: str, task_id: str, wait: float, seen_etag: str | None = None
    ) -> Plan[tuple[Reply, Task]]:
        headers: dict[str, str] = {}
        if wait >= 1:
            headers["Prefer"] = f"wait={int(wait)}"
            if seen_etag:  # the state we last saw: the server answers as soon as it differs
                headers["If-None-Match"] = seen_etag
        timeout = httpx.Timeout(self.timeout + wait, connect=min(self.timeout, 10.0)) if headers else None
        reply = yield from self.caller.call(
            "GET", self.endpoint.url(family, task_id), headers=headers or None, timeout=timeout
        )
        task: Task = _parse(Task, reply)
        self.remember(task.task_id, family)
        return reply, task

    def list_page(self, family: str, page: int, page_size: int) -> Plan[list[Task]]:
        fam = family_named(family)
        reply = yield from self.caller.call(
            "GET", self.endpoint.url(fam.name), params={"pageNum": page, "pageSize": page_size}
        )
        if not isinstance(reply.data, list):
            raise KlingAPIError(
                None, "a list query did not return an array", reply.request_id, reply.status_code
            )
        tasks = [parse_value(Task, item, reply) for item in reply.data]
        for task in tasks:
            self.remember(task.task_id, fam.name)
        return tasks

    def selection(self, action: str, request: Any, fields: Mapping[str, Any]) -> Plan[dict[str, Any]]:
        model = SELECTION_MODELS[action]
        body = validate_body(model, merge_request(request, fields, model))
        reply = yield from self.caller.call(
            "POST", self.endpoint.url("videos/multi-elements", action), body=body
        )
        if not isinstance(reply.data, dict):
            raise KlingAPIError(
                None, f"{action} returned no data object", reply.request_id, reply.status_code
            )
        return reply.data

    def preset_page(self, path: str, page: int, page_size: int) -> Plan[list[Task]]:
        """A preset catalogue (elements, voices), each entry as a finished creation task."""
        reply = yield from self.caller.call(
            "GET", self.endpoint.url(path), params={"pageNum": page, "pageSize": page_size}
        )
        if not isinstance(reply.data, list):
            raise KlingAPIError(
                None, "a list query did not return an array", reply.request_id, reply.status_code
            )
        return [parse_value(Task, item, reply) for item in reply.data]

    def preset_elements(self, page: int, page_size: int) -> Plan[list[Task]]:
        """The official elements (spec more §7.7)."""
        return (yield from self.preset_page("general/advanced-presets-elements", page, page_size))

    def preset_voices(self, page: int, page_size: int) -> Plan[list[Task]]:
        """The preset voices, each with a trial mp3 (spec more §7.6)."""
        return (yield from self.preset_page("general/presets-voices", page, page_size))

    def delete_resource(self, path: str, field: str, value: int | str) -> Plan[dict[str, Any]]:
        reply = yield from self.caller.call("POST", self.endpoint.url(path), body={field: value})
        if not isinstance(reply.data, dict):
            raise KlingAPIError(None, "delete returned no data object", reply.request_id, reply.status_code)
        return reply.data

    def delete_element(self, element_id: int | str) -> Plan[dict[str, Any]]:
        return (yield from self.delete_resource("general/delete-advanced-elements", "element_id", element_id))

    def delete_voice(self, voice_id: str) -> Plan[dict[str, Any]]:
        return (yield from self.delete_resource("general/delete-voices", "voice_id", voice_id))

    def init_selection(self, request: Any, fields: Mapping[str, Any]) -> Plan[InitSelectionData]:
        data = yield from self.selection("init-selection", request, fields)
        return InitSelectionData.model_validate(data)

    # ---- waiting -------------------------------------------------------------------------

    def wait(
        self,
        task: TaskRef,
        *,
        family: str | None = None,
        timeout: float | None = 900.0,
        on_progress: ProgressCallback | None = None,
    ) -> Plan[Task]:
        """Until ``succeed`` (returned) or ``failed`` (:class:`TaskFailedError`); after ``timeout``
        seconds :class:`WaitTimeoutError` carries the task id so the caller can resume.
        ``on_progress(task)`` is called with the first state seen and again on every status change."""
        name = self.family_of(task, family)
        task_id = task if isinstance(task, str) else task.task_id
        if isinstance(task, Task) and task.is_terminal:
            return _finished(task)
        deadline = None if timeout is None else time.monotonic() + timeout
        # The first query does not wait: it reports the current state (``submitted`` included).
        # Later ones long-poll from the state last seen (its ETag), so no change is skipped.
        seen: str | None = None
        etag: str | None = None
        interval: float | None = None
        first = True
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            ask = self.poll.long_poll if remaining is None else min(self.poll.long_poll, max(0.0, remaining))
            ask = 0.0 if first else (float(int(ask)) if ask >= 1 else 0.0)
            reply, latest = yield from self._get(name, task_id, ask, etag)
            etag = reply.headers.get("etag") or etag
            changed = seen is not None and latest.task_status != seen
            if on_progress is not None and latest.task_status != seen:
                yield Progress(on_progress, latest)
            seen = latest.task_status
            if latest.is_terminal:
                return _finished(latest)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise WaitTimeoutError(task_id, timeout, latest)
            if first and self.poll.long_poll >= 1:
                first = False
                continue  # after the immediate first query, straight to the long-poll
            first = False
            if long_poll_honoured(reply, ask) or changed:
                interval = None
                continue
            interval = self.poll.next_interval(interval)
            delay = self.poll.jittered(interval)
            retry_after = parse_retry_after(reply.headers.get("retry-after"))
            if retry_after is not None:
                delay = max(delay, retry_after)
            if remaining is not None:
                delay = min(delay, remaining)
            yield Sleep(delay)

    # ---- results -------------------------------------------------------------------------

    def download(
        self,
        task: TaskRef,
        dest: str | os.PathLike[str],
        *,
        family: str | None = None,
        timeout: float | None = 900.0,
    ) -> Plan[list[Path]]:
        """Wait if needed (fresh URLs come with the final query), then fetch every result file."""
        if not (isinstance(task, Task) and task.task_status == TaskStatus.SUCCEED):
            task = yield from self.wait(task, family=family, timeout=timeout)
        assert isinstance(task, Task)
        return (yield from download_all(task, dest, self.retry))


def _finished(task: Task) -> Task:
    if task.task_status == TaskStatus.FAILED:
        raise TaskFailedError(task)
    return task


M = TypeVar("M", bound=BaseModel)


def parse_value(model: type[M], value: object, reply: Reply) -> M:
    """``value`` (part of ``reply``) as ``model``; a shape the SDK does not know is a ``KlingAPIError``."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise KlingAPIError(
            None,
            f"unexpected {model.__name__} shape: {exc.errors(include_url=False)[:2]}",
            reply.request_id,
            reply.status_code,
        ) from None


def _parse(model: type[M], reply: Reply) -> M:
    return parse_value(model, reply.data, reply)
