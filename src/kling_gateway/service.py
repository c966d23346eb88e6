"""The task life cycle as the routes see it: create, find, list. Nothing here knows HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .accounting import metrics as usage_metrics
from .accounting.pricing import Price, price_of
from .audio_refs import tts_audio, tts_audio_url
from .catalog import Catalog
from .config import Settings
from .element_refs import PRESETS, deleted_result, own_element, preset
from .engines.base import EngineTask
from .engines.router import EngineRouter
from .errors import (
    Code,
    FetchError,
    GatewayError,
    KlingError,
    TaskFailure,
    client_caused,
    invalid_parameter,
    kling_error,
    not_found,
)
from .face_refs import check_face_choice, face_session, missing_face_session, seconds_of
from .ids import new_numeric_id, now_ms
from .jobs.context import WorkerContext
from .media.fetch import decode_base64_input, is_url, max_bytes_for
from .push import ChangeHub, TaskChange
from .push.longpoll import LongPoller
from .schemas import (
    ACTIVE_STATUSES,
    FAMILIES,
    Family,
    TaskStatus,
    iter_inputs,
    model_name_of,
    validation_error,
)
from .schemas.faces import ADVANCED_LIP_SYNC, LIP_SYNC_AUDIO_S
from .schemas.model_limits import packaged_catalog
from .schemas.voices import VOICE_PAGE_SIZE_MAX, VOICES
from .sessions import missing_session
from .standard2.products import PRODUCTS
from .storage import Storage
from .store import AccountRow, DuplicateExternalId, ResourceRow, TaskRow, TaskStore
from .voice_refs import PRESETS as VOICE_PRESETS
from .voice_refs import VOICE, PresetVoice, video_has_voice, voice_exists
from .voice_refs import preset as voice_preset

PAGE_NUM_RANGE = (1, 1000)
PAGE_SIZE_RANGE = (1, 500)

# References a request makes to resources of the same account, checked before acceptance:
# family -> ((path, kind), ...). A resource of another account is the same as a missing one.
REFERENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "videos/video-extend": (("video_id", "video"),),
    "videos/lip-sync": (("input.video_id", "video"),),
    "audio/video-to-audio": (("video_id", "video"),),
    "videos/image2video": (("element_list[].element_id", "element"), ("voice_list[].voice_id", "voice")),
    "images/generations": (("element_list[].element_id", "element"),),
    "videos/omni-video": (("element_list[].element_id", "element"),),
    "videos/motion-control": (("element_list[].element_id", "element"),),
    "videos/avatar/image2video": (("audio_id", "audio"),),
    "images/omni-image": (("element_list[].element_id", "element"),),
    "videos/identify-face": (("video_id", "video"),),
    "videos/advanced-lip-sync": (("face_choose[].audio_id", "audio"),),
    "videos/text2video": (("voice_list[].voice_id", "voice"),),
    "general/advanced-custom-elements": (("element_voice_id", "voice"),),
    # the new standard names them as contents[] items (spec more §3.2): type element / voice
    **{
        p.family: (("contents[].element_id", "element"), ("contents[].voice_id", "voice"))
        for p in PRODUCTS.values()
        if not p.takes_prompt
    },
}

T = TypeVar("T")

# How a request is stored (json.dumps with these arguments builds a new encoder on every call)
_REQUEST_JSON = json.JSONEncoder(separators=(",", ":")).encode


def family_or_404(name: str) -> Family:
    family = FAMILIES.get(name)
    if family is None:
        raise KlingError(Code.RESOURCE_NOT_FOUND, f"unknown task family '{name}'")
    return family


def check_inline_input(value: str, *, field: str, kind: str, settings: Settings) -> None:
    """Validate a Base64 input up front (URLs are fetched and checked by the worker)."""
    from .media import validate  # imported late: pulls in PyAV

    if not isinstance(value, str):
        raise invalid_parameter(f"{field}: must be a string (URL or Base64)")
    if is_url(value):
        return
    try:
        data = decode_base64_input(value, field=field, max_bytes=max_bytes_for(kind, settings))
        if kind == "image":
            validate.validate_image(data, field)
        elif kind == "audio":
            validate.validate_audio(data, field)
    except (FetchError, TaskFailure) as exc:
        raise kling_error(exc) from None


def _audio_seconds(value: str, settings: Settings) -> float:
    """The length of a Base64 ``sound_file`` of advanced lip-sync (2–60 s, ≤ 5 MB)."""
    from .media import validate  # imported late: pulls in PyAV

    field = "face_choose[0].sound_file"
    low, high = LIP_SYNC_AUDIO_S
    try:
        data = decode_base64_input(value, field=field, max_bytes=max_bytes_for("audio", settings))
        return validate.validate_audio(data, field, min_s=low, max_s=high)
    except (FetchError, TaskFailure) as exc:
        raise kling_error(exc) from None


class TaskService:
    def __init__(
        self,
        store: TaskStore,
        router: EngineRouter,
        hub: ChangeHub,
        settings: Settings,
        longpoll: LongPoller,
        on_created: Callable[[TaskRow], None] | None = None,
        pricing: Callable[[str, dict[str, Any]], Price] = price_of,
        storage: Storage | None = None,
        catalog: Catalog | None = None,
    ):
        self.store = store
        self.pricing = pricing  # synchronous tasks' usage metrics; the charge is the admission hook's
        self.router = router
        self.hub = hub
        self.settings = settings
        self.on_created = on_created
        self.storage = storage  # where synchronous tasks put their results
        self.catalog = catalog or packaged_catalog()  # the models and limits validation reads
        self.longpoll = longpoll

    def validate(self, family: Family, body: Any) -> dict[str, Any]:
        """The request as it will be stored: validated, normalised (``duration: 5`` → ``"5"``),
        unknown fields kept, defaults not filled in."""
        if not isinstance(body, dict):
            raise invalid_parameter("request body must be a JSON object")
        try:
            model = family.request_model.model_validate(body, context={"catalog": self.catalog})
        except ValidationError as exc:
            raise validation_error(exc) from None
        self.check_unknown_fields(model)
        normalised = model.model_dump(mode="json", exclude_unset=True)
        self.check_inputs(family, normalised)
        return normalised

    def check_unknown_fields(self, model: BaseModel) -> None:
        """Fields the spec does not define are relayed upstream unchanged (Kling adds fields
        often), but only up to ``max_unknown_field_bytes`` in total: the store is no dump."""
        extras = dict(unknown_fields(model))
        if not extras:
            return
        size = len(json.dumps(extras, separators=(",", ":"), default=str))
        limit = self.settings.max_unknown_field_bytes
        if size > limit:
            names = ", ".join(sorted(extras)[:5])
            raise invalid_parameter(
                f"undocumented fields ({names}) take {size} bytes, more than the {limit}-byte limit"
            )

    def check_inputs(self, family: Family, body: dict[str, Any]) -> None:
        for path, kind in family.inputs:
            for field, value in iter_inputs(body, path):
                check_inline_input(value, field=field, kind=kind, settings=self.settings)

    async def _check_references(self, account: AccountRow, family: str, body: dict[str, Any]) -> None:
        for path, kind in REFERENCES.get(family, ()):
            for field, ref in iter_inputs(body, path):
                if not await self._exists(account, kind, str(ref)):
                    raise invalid_parameter(f"{field}: {kind} '{ref}' does not exist for this account")
        if family == VOICES and body.get("video_id") is not None:
            await self._check_voiced_video(account, str(body["video_id"]))
        if family == "videos/multi-elements":
            session_id = str(body["session_id"])
            if await self.store.session(session_id, account.id, now_ms()) is None:
                raise invalid_parameter(f"session_id: {missing_session(session_id)}")
        if family == ADVANCED_LIP_SYNC:
            await self._check_face_choice(account, body)

    async def _check_face_choice(self, account: AccountRow, body: dict[str, Any]) -> None:
        """The session exists for the account, the face is in it, the clip fits the audio and
        the video and overlaps the face's window by ≥ 2 s (spec §8.6.3)."""
        session_id = str(body["session_id"])
        session = face_session(await self.store.get(session_id), account.id, now_ms())
        if session is None:
            raise invalid_parameter(f"session_id: {missing_face_session(session_id)}")
        choice = body["face_choose"][0]
        low, high = LIP_SYNC_AUDIO_S
        seconds: float | None = None
        if choice.get("audio_id"):
            audio = tts_audio(await self.store.get(str(choice["audio_id"])), account.id, now_ms())
            seconds = seconds_of(audio["duration"]) if audio is not None else None
            if seconds is not None and not low <= seconds <= high:
                raise invalid_parameter(
                    f"face_choose[0].audio_id: the audio is {seconds:.1f} s, outside {low:g}–{high:g} s"
                )
        elif not is_url(str(choice.get("sound_file"))):
            seconds = await asyncio.to_thread(_audio_seconds, str(choice["sound_file"]), self.settings)
        problem = check_face_choice(session, choice, None if seconds is None else int(seconds * 1000))
        if problem is not None:
            raise invalid_parameter(problem)

    async def _check_voiced_video(self, account: AccountRow, video_id: str) -> None:
        video = await self.store.video(video_id, account.id)
        if video is None:
            raise invalid_parameter(f"video_id: video '{video_id}' does not exist for this account")
        if not video_has_voice(await self.store.get(video["task_id"])):
            raise invalid_parameter(
                f"video_id: video '{video_id}' has no audio track "
                "(use a video made with sound 'on', an avatar or a lip-sync video)"
            )

    async def _exists(self, account: AccountRow, kind: str, ref: str) -> bool:
        if kind == "video":
            return await self.store.video(ref, account.id) is not None
        if kind == "audio":
            return tts_audio_url(await self.store.get(ref), account.id, now_ms()) is not None
        if kind == "element":
            return preset(ref) is not None or own_element(await self.store.get(ref), account.id) is not None
        if kind == VOICE:
            return await voice_exists(self.store, ref, account.id)
        return False

    async def _accept(
        self, account: AccountRow, family_name: str, body: Any
    ) -> tuple[Family, dict[str, Any], str]:
        """Validate, pick the engine, check references: (family, stored body, engine)."""
        family = family_or_404(family_name)
        body = self.validate(family, body)
        model = model_name_of(body)
        engine = self.router.pick(family.name, model)
        if engine is None:
            raise KlingError(
                Code.RESOURCE_NOT_FOUND, f"no engine serves {family.name} with model {model or 'default'}"
            )
        await self._check_references(account, family.name, body)
        return family, body, await self._session_engine(account, family, body, engine)

    async def _session_engine(
        self, account: AccountRow, family: Family, body: dict[str, Any], picked: str
    ) -> str:
        """Advanced lip-sync runs where its face session lives: the channel that made it, or the
        reference engine for a session of its own (no upstream knows that one), when it serves
        the family; otherwise the router's pick (which then fails the task, saying why)."""
        if family.name != ADVANCED_LIP_SYNC:
            return picked
        session = face_session(await self.store.get(str(body["session_id"])), account.id, now_ms())
        holder = self.router.get(session["engine"] if session is not None else None)
        if holder is not None and holder.serves(family.name, model_name_of(body)):
            return holder.name
        return picked

    @staticmethod
    def _new_row(
        account: AccountRow,
        family: str,
        body: dict[str, Any],
        engine: str,
        available_at: int | None = None,
    ) -> TaskRow:
        now = now_ms()
        return TaskRow(
            id=new_numeric_id(),
            account_id=account.id,
            family=family,
            external_task_id=body.get("external_task_id"),
            status=TaskStatus.SUBMITTED,
            status_msg="",
            request=_REQUEST_JSON(body),
            result=None,
            info_extra=None,
            final_unit_deduction=None,
            callback_url=body.get("callback_url") or None,
            engine=engine,
            upstream_task_id=None,
            attempts=0,
            lease_owner=None,
            lease_expires_at=None,
            available_at=now if available_at is None else available_at,
            created_at=now,
            updated_at=now,
            finished_at=None,
            files_expired_at=None,
        )

    async def _insert(self, account: AccountRow, row: TaskRow, *, held: bool = False) -> None:
        """Store a new task (admission in its transaction; the ledger counts it in the usage
        metrics). ``held``: a synchronous task, run by the caller; it is counted in the usage
        metrics here once its outcome is known."""
        try:
            await self.store.insert(row, runnable=not held)
        except KlingError as refused:  # a limit, the packs or a spend cap (store/ledger.py)
            usage_metrics.refused(account.id, refused.code)
            raise
        except DuplicateExternalId:
            raise invalid_parameter(
                f"external_task_id: '{row.external_task_id}' already exists "
                "(it is used by another task of this account)"
            ) from None

    async def create(self, account: AccountRow, family_name: str, body: Any) -> TaskRow:
        """Accept a task: validate, check references, store it, wake the workers.

        Limits, packs and the charge are checked by the store's admission hooks in the insert
        transaction itself (store/ledger.py), so concurrent creates cannot overshoot them."""
        family, body, engine = await self._accept(account, family_name, body)
        row = self._new_row(account, family.name, body, engine)
        await self._insert(account, row)
        self.hub.publish(TaskChange(row.id, row.account_id, row.status, row.updated_at))
        if self.on_created is not None:
            self.on_created(row)
        return row

    async def accept(
        self,
        account: AccountRow,
        family: str,
        body: dict[str, Any],
        *,
        model: str | None,
        external_task_id: str | None,
        callback_url: str | None,
    ) -> TaskRow:
        """Store a request validated elsewhere (the new standard's rules) as a new task of
        ``family`` and wake the workers; references checked and admission as for :meth:`create`."""
        engine = self.router.pick(family, model)
        if engine is None:
            raise KlingError(
                Code.RESOURCE_NOT_FOUND, f"no engine serves {family} with model {model or 'default'}"
            )
        await self._check_references(account, family, body)
        row = dataclasses.replace(
            self._new_row(account, family, body, engine),
            external_task_id=external_task_id,
            callback_url=callback_url,
        )
        await self._insert(account, row)
        self.hub.publish(TaskChange(row.id, row.account_id, row.status, row.updated_at, family))
        if self.on_created is not None:
            self.on_created(row)
        return row

    async def create_sync(self, account: AccountRow, family_name: str, body: Any) -> TaskRow:
        """Run a synchronous family's task in the request (bounded by ``sync_timeout_seconds``).

        The row is admitted (and charged) like any task but never offered to the workers. It
        ends ``succeed`` (settled), or on a server-side failure (timeout, upstream down, engine
        crash, :class:`ServerFailure`) ``failed`` (refunded), kept to say why. A failure that is
        the client's doing (a :class:`TaskFailure` such as an input that only decoding finds
        wrong) answers 400/1201 and is withdrawn: no task, events, ledger entry or files stay,
        as for any refused create."""
        family, body, engine_name = await self._accept(account, family_name, body)
        engine = self.router.get(engine_name)
        if self.storage is None or engine is None:
            raise KlingError(Code.UNAVAILABLE, f"{family.name} cannot run on this process")
        never = now_ms() + 10 * 365 * 24 * 3600 * 1000  # not runnable: this request runs it
        row = dataclasses.replace(self._new_row(account, family.name, body, engine_name, never), attempts=1)
        await self._insert(account, row, held=True)
        ctx = WorkerContext(row, "sync", self.store, self.storage, self.hub, self.settings)
        task = EngineTask(task_id=row.id, account_id=account.id, family=family.name, request=body)
        try:
            outcome = await asyncio.wait_for(engine.run(task, ctx), self.settings.sync_timeout_seconds)
        except BaseException as exc:
            await ctx.discard_files()
            error = _sync_error(exc, family.name, self.settings.sync_timeout_seconds)
            if client_caused(error) and await self.store.withdraw(row.id, now_ms()):
                usage_metrics.refused(account.id, error.code)
                raise error from None
            usage_metrics.admitted(account.id, family.name, self.pricing(family.name, body))
            await self.store.transition(
                row.id,
                from_statuses=ACTIVE_STATUSES,
                to_status=TaskStatus.FAILED,
                now=now_ms(),
                status_msg=error.message,
            )
            if isinstance(exc, GatewayError | TimeoutError):
                raise error from None
            raise  # a crash (the API answers 5000 and logs it) or a cancel (the client went away)
        usage_metrics.admitted(account.id, family.name, self.pricing(family.name, body))
        await self.store.transition(
            row.id,
            from_statuses=ACTIVE_STATUSES,
            to_status=TaskStatus.SUCCEED,
            now=now_ms(),
            result=outcome.task_result,
            info_extra=outcome.task_info_extra,
            final_unit_deduction=outcome.final_unit_deduction,
            account_id=account.id,
        )
        found = await self.store.get(row.id)
        assert found is not None
        return found

    async def delete_element(self, account: AccountRow, element_id: Any) -> TaskRow:
        """Mark an element of the account deleted (its creation task keeps the record)."""
        ref = str(element_id if element_id is not None else "")
        if preset(ref) is not None:
            raise invalid_parameter(f"element_id: '{ref}' is an official element and cannot be deleted")
        row = await self.store.get(ref)
        if row is None or own_element(row, account.id) is None or row.result is None:
            raise invalid_parameter(f"element_id: element '{ref}' does not exist for this account")
        marked = deleted_result(row.result)
        # its resources row (relay origin) goes with it; elements made before that table have none
        origin = await self.store.resources.live(ref, "element", account.id)
        if not await self.store.resources.delete(ref, "element", account.id, now_ms(), marked):
            await self.store.replace_result(row.id, marked, now_ms())
        await self._forget_upstream(origin)
        return row

    @staticmethod
    def preset_elements(page_num: Any, page_size: Any) -> list[dict[str, Any]]:
        num = _int_in_range("pageNum", page_num, 1, PAGE_NUM_RANGE)
        size = _int_in_range("pageSize", page_size, 30, PAGE_SIZE_RANGE)
        return list(PRESETS[(num - 1) * size : num * size])

    async def delete_voice(self, account: AccountRow, voice_id: Any) -> TaskRow:
        """Delete a custom voice of the account: no longer listed nor usable; its creation task
        answers with an empty ``voices`` list from then on."""
        ref = str(voice_id if voice_id is not None else "")
        if voice_preset(ref) is not None:
            raise invalid_parameter(f"voice_id: '{ref}' is a preset voice and cannot be deleted")
        row = await self.store.get(ref)
        origin = await self.store.resources.live(ref, VOICE, account.id)
        emptied = {**json.loads((row.result if row else None) or "{}"), "voices": []}
        if row is None or not await self.store.resources.delete(ref, VOICE, account.id, now_ms(), emptied):
            raise invalid_parameter(f"voice_id: voice '{ref}' does not exist for this account")
        await self._forget_upstream(origin)
        return row

    async def _forget_upstream(self, origin: ResourceRow | None) -> None:
        """A deleted voice or element made by a relay channel is deleted there too."""
        if origin is None or origin.channel is None or origin.upstream_id is None:
            return
        engine = self.router.get(origin.channel)
        if engine is not None:
            await engine.forget(origin.kind, origin.upstream_id)

    @staticmethod
    def preset_voices(page_num: Any, page_size: Any) -> list[PresetVoice]:
        num = _int_in_range("pageNum", page_num, 1, PAGE_NUM_RANGE)
        size = _int_in_range("pageSize", page_size, 30, (1, VOICE_PAGE_SIZE_MAX))
        return list(VOICE_PRESETS[(num - 1) * size : num * size])

    async def get(self, account: AccountRow, family_name: str, task_id: str) -> TaskRow:
        family = family_or_404(family_name)
        row = await self.store.find(account.id, family.name, task_id)
        if row is None:
            raise not_found(f"task '{task_id}' not found")
        return row

    async def wait_if_asked(
        self, account: AccountRow, row: TaskRow, prefer: str | None, *, seen: str | None = None
    ) -> TaskRow:
        """Long-poll (``Prefer: wait=N``): hold the answer until the status differs from ``seen``
        (default: the status of ``row``), the task is terminal, or N seconds pass.

        Waiting costs no store query: the task's change notification wakes the request, and
        requests woken together share one re-read (see :mod:`kling_gateway.push.longpoll`).
        """
        return await self.longpoll.wait(row, parse_prefer_wait(prefer), seen)

    async def list(
        self,
        account: AccountRow,
        family_name: str,
        page_num: Any,
        page_size: Any,
        known: Callable[[str], T | None] = lambda _task_id: None,
    ) -> list[TaskRow | T]:
        """A list page: per task, what ``known`` has for it (the caller's kept answer of a
        finished task, which never changes), else its row read now (see ``TaskStore.page``)."""
        family = family_or_404(family_name)
        num = _int_in_range("pageNum", page_num, 1, PAGE_NUM_RANGE)
        if family.name == VOICES:  # own voices: pageSize up to 1000, deleted ones not listed
            size = _int_in_range("pageSize", page_size, 30, (1, VOICE_PAGE_SIZE_MAX))
            return list(await self.store.page_live(account.id, family.name, VOICE, num, size))
        size = _int_in_range("pageSize", page_size, 30, PAGE_SIZE_RANGE)
        return await self.store.page(account.id, family.name, num, size, known)


def parse_prefer_wait(prefer: str | None, cap: float = 60.0) -> float:
    """Seconds asked for by ``Prefer: wait=N`` (RFC 7240), capped; 0 when absent or malformed."""
    if not prefer:
        return 0.0
    for part in prefer.split(","):
        for token in part.split(";"):
            name, _, value = token.strip().partition("=")
            if name.strip().lower() == "wait":
                try:
                    return max(0.0, min(cap, float(value.strip().strip('"'))))
                except ValueError:
                    return 0.0
    return 0.0


def unknown_fields(model: BaseModel, where: str = "") -> Iterator[tuple[str, Any]]:
    """Every field of ``model`` (and its nested models) the model does not define, by path."""
    for name, value in (model.model_extra or {}).items():
        yield f"{where}{name}", value
    fields = model.__dict__  # the declared fields' values (extras live in model_extra)
    for name in model.model_fields_set:  # a field left to its default holds no client's fields
        value = fields.get(name)
        if isinstance(value, BaseModel):
            yield from unknown_fields(value, f"{where}{name}.")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from unknown_fields(item, f"{where}{name}[{i}].")


def _int_in_range(name: str, raw: Any, default: int, bounds: tuple[int, int]) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise invalid_parameter(f"{name}: must be an integer") from None
    if not bounds[0] <= value <= bounds[1]:
        raise invalid_parameter(f"{name}: must be between {bounds[0]} and {bounds[1]}")
    return value


def _sync_error(exc: BaseException, family: str, limit: float) -> KlingError:
    """How a synchronous run's failure is answered: a :class:`TaskFailure` with its own code
    (1201 for an input, 5001 for a :class:`ServerFailure`), a timeout 5002, an upstream that is
    down 5001, another gateway error with its code, the client gone or a crash 5000."""
    if isinstance(exc, TimeoutError):
        return KlingError(Code.TIMEOUT, f"{family} did not finish within {limit:g} s")
    if isinstance(exc, asyncio.CancelledError):
        return KlingError(Code.INTERNAL, f"{family}: the request was cancelled before the task finished")
    if isinstance(exc, GatewayError):
        return kling_error(exc)
    return KlingError(Code.INTERNAL, f"{family}: internal error while running the task")
