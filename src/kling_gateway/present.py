"""Stored task rows → the wire task object (spec §5.3), with storage refs turned into signed URLs,
and :class:`TaskAnswers`: the object serialized once per finished task."""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .accounting.money import balance_deduction
from .engines.base import STORAGE_SCHEME
from .schemas.elements import ELEMENTS
from .schemas.encoding import dumps
from .schemas.tasks import TERMINAL_STATUSES
from .schemas.voices import VOICES
from .storage.base import Presigner
from .storage.signing import expiry, signed_path
from .store import TaskRow

S3_MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4 refuses longer
PRESIGNED_KEPT = 10_000
ANSWERS_KEPT = 20_000  # serialized finished tasks kept (about 0.5 kB each)


class UrlSigner:
    """Turns ``storage:<key>`` into an absolute, signed, expiring URL.

    By default a gateway URL (``/files/<key>?expires&signature``, served from any storage). With
    ``presign`` (S3 storage and ``storage_presign``), clients get the store's own presigned URL
    instead. Presigning is async, so callers first :meth:`prepare` the rows they will show, then
    build the objects synchronously; a key not prepared falls back to the gateway URL, which is
    always valid. A presigned URL is made for ``1.25 × ttl`` and reused for ``ttl / 4``, so every
    URL handed out still lives at least ``ttl`` (capped by S3's 7 days) and polling clients see a
    stable URL for a while, like the bucketed expiry of gateway URLs.
    """

    def __init__(self, secret: str, ttl: int, presign: object | None = None):
        self.secret = secret
        self.ttl = ttl
        self.presigner = presign if isinstance(presign, Presigner) else None
        self._presigned: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def bucket(self) -> int | None:
        """The expiry every gateway URL signed now carries; ``None`` with presigned URLs.

        Signed URLs are the same for every call within one bucket (``ttl / 4``), so anything
        built from them can be reused until the bucket changes, and every URL in it still lives
        at least ``ttl``. Presigned URLs follow their own reuse window (:meth:`prepare`)."""
        return expiry(self.ttl) if self.presigner is None else None

    def url(self, value: str, base_url: str) -> str:
        if not value.startswith(STORAGE_SCHEME):
            return value
        key = value[len(STORAGE_SCHEME) :]
        cached = self._presigned.get(key) if self.presigner is not None else None
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        return base_url + signed_path(key, self.secret, self.ttl)

    async def prepare(self, nodes: Iterable[Any]) -> None:
        """Presign every ``storage:`` reference in ``nodes`` not already presigned (no-op without presign)."""
        if self.presigner is None:
            return
        now = time.monotonic()
        keys = {ref[len(STORAGE_SCHEME) :] for node in nodes for ref in _storage_refs(node)}
        ttl = min(self.ttl + max(1, self.ttl // 4), S3_MAX_PRESIGN_SECONDS)
        reuse = max(1, min(self.ttl // 4, ttl - self.ttl))
        for key in keys:
            cached = self._presigned.get(key)
            if cached is not None and cached[1] > now:
                continue
            self._presigned[key] = (await self.presigner.presigned_url(key, ttl), now + reuse)
            self._presigned.move_to_end(key)
        while len(self._presigned) > PRESIGNED_KEPT:
            self._presigned.popitem(last=False)

    async def prepare_rows(self, rows: Iterable[TaskRow]) -> None:
        """:meth:`prepare` the results and task infos of ``rows`` (before :func:`task_object`)."""
        if self.presigner is None:
            return
        await self.prepare(json.loads(text) for row in rows for text in (row.result, row.info_extra) if text)

    def shown(self, row: TaskRow, base_url: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """``task_info`` and ``task_result`` of a row with their URLs resolved (not cached here:
        finished answers are cached serialized, in :class:`TaskAnswers`)."""
        info = self.resolve(task_info(row), base_url)
        result = self.resolve(json.loads(row.result), base_url) if row.result else {}
        return info, result

    def resolve(self, node: Any, base_url: str) -> Any:
        if isinstance(node, str):
            return self.url(node, base_url) if node.startswith(STORAGE_SCHEME) else node
        if isinstance(node, list):
            return [self.resolve(item, base_url) for item in node]
        if isinstance(node, dict):
            return {key: self.resolve(value, base_url) for key, value in node.items()}
        return node


def task_info(row: TaskRow) -> dict[str, Any]:
    info: dict[str, Any] = {}
    if row.external_task_id is not None:
        info["external_task_id"] = row.external_task_id
    if row.info_extra:
        info.update(json.loads(row.info_extra))
    return info


# Families whose result fields Kling puts in ``data`` itself (identify-face: spec §8.6.2); the
# gateway shows them there and in ``task_result``, so task-shaped clients find them too.
FLAT_RESULT_FAMILIES: dict[str, tuple[str, ...]] = {"videos/identify-face": ("session_id", "face_data")}


def task_object(row: TaskRow, signer: UrlSigner, base_url: str) -> dict[str, Any]:
    """The task as queries, lists, callbacks and events show it."""
    info, result = signer.shown(row, base_url)
    obj: dict[str, Any] = {
        "task_id": row.id,
        "task_status": row.status,
        "task_status_msg": row.status_msg,
        "task_info": info,
        "task_result": result,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    obj["watermark_info"] = {"enabled": watermark_enabled(row)}
    if row.family in FLAT_RESULT_FAMILIES:  # Kling answers these at the top of ``data``
        obj.update({key: result[key] for key in FLAT_RESULT_FAMILIES[row.family] if key in result})
    # spec more §7/§8: every record carries both; "0" until the ledger settles the charge (a task
    # still running, or one older than the ledger), the settled units after that
    units = row.final_unit_deduction if row.final_unit_deduction is not None else "0"
    obj["final_unit_deduction"] = units
    obj["final_balance_deduction"] = balance_deduction(units)
    return obj


def watermark_enabled(row: TaskRow) -> bool:
    """Whether the task asked for a watermarked copy (``watermark_info.enabled``; off by default).

    With it, every media item of the result also carries ``watermark_url``; without it the key
    is left out (docs/api.md)."""
    if '"watermark_info"' not in row.request:  # skip parsing the request on the hot path
        return False
    watermark = row.request_body.get("watermark_info")
    return isinstance(watermark, dict) and bool(watermark.get("enabled"))


@dataclass(frozen=True)
class Answer:
    """A task object serialized (the ``data`` of a query, an item of a list)."""

    data: bytes
    status: str
    updated_at: int


# Families whose finished tasks still change: an element's record turns ``deleted`` (a voice's
# ``voices`` list empties) later, in whichever process serves the delete, so no process may keep
# its answer.
CHANGING_FAMILIES = frozenset({ELEMENTS, VOICES})


class TaskAnswers:
    """Task objects serialized once: a finished task never changes, so its answer is built once
    per URL bucket (see :meth:`UrlSigner.bucket`) and base URL, and served from memory after that.

    The answer is found again by the reference the client used (task id or external_task_id)
    within the account and family, with no store read. A task not yet terminal is never cached
    here: it is read and built on every request. With presigned URLs nothing is cached."""

    def __init__(
        self,
        signer: UrlSigner,
        kept: int = ANSWERS_KEPT,
        build: Callable[[TaskRow, UrlSigner, str], dict[str, Any]] | None = None,
    ):
        """``build``: the shape served (default :func:`task_object`; the new standard passes its
        record builder, and looks answers up with family ``""``: its ids span families)."""
        self.signer = signer
        self.kept = kept
        self.build = build or task_object
        self.by_family = build is None
        # (account id, family, task id or external id, base URL) -> (bucket, answer)
        self._finished: OrderedDict[tuple[str, str, str, str], tuple[int, Answer]] = OrderedDict()

    def cached(self, account_id: str, family: str, ref: str, base_url: str) -> Answer | None:
        """The answer of a finished task of this account and family, when built in this bucket."""
        return self._kept(account_id, family, ref, base_url, self.signer.bucket())

    def finder(self, account_id: str, family: str, base_url: str) -> Callable[[str], Answer | None]:
        """:meth:`cached` for the many refs of one page: the URL bucket is read once."""
        bucket = self.signer.bucket()
        return lambda ref: self._kept(account_id, family, ref, base_url, bucket)

    def _kept(
        self, account_id: str, family: str, ref: str, base_url: str, bucket: int | None
    ) -> Answer | None:
        item = self._finished.get((account_id, family if self.by_family else "", ref, base_url))
        return item[1] if item is not None and item[0] == bucket else None

    def of(self, row: TaskRow, base_url: str, ref: str | None = None) -> Answer:
        """The answer for ``row`` (read from the store just now); kept when the task is finished,
        under its id and under ``ref`` (the external_task_id it was asked by)."""
        bucket = self.signer.bucket()
        family = row.family if self.by_family else ""
        key = (row.account_id, family, row.id, base_url)
        item = self._finished.get(key)
        if item is not None and item[0] == bucket and item[1].updated_at == row.updated_at:
            answer = item[1]
        else:
            answer = Answer(
                dumps(self.build(row, self.signer, base_url)).encode(), row.status, row.updated_at
            )
        if bucket is not None and row.status in TERMINAL_STATUSES and row.family not in CHANGING_FAMILIES:
            self._finished[key] = (bucket, answer)
            if ref is not None and ref != row.id:
                self._finished[(row.account_id, family, ref, base_url)] = (bucket, answer)
            while len(self._finished) > self.kept:
                self._finished.popitem(last=False)
        return answer


def created_object(row: TaskRow) -> dict[str, Any]:
    """The ``data`` of a create reply (spec §5.2)."""
    info = {"external_task_id": row.external_task_id} if row.external_task_id is not None else {}
    return {
        "task_id": row.id,
        "task_status": row.status,
        "task_info": info,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _storage_refs(node: Any) -> Iterable[str]:
    if isinstance(node, str):
        if node.startswith(STORAGE_SCHEME):
            yield node
    elif isinstance(node, list):
        for item in node:
            yield from _storage_refs(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from _storage_refs(value)
