"""``kling-gateway voices ...`` and ``kling-gateway elements ...``: custom voices (spec more §7.6)
and elements (§7.7) from the command line — create (waits for the task by default), get, list
own, presets, delete. Exit codes as for ``submit`` and ``task`` (see :mod:`.cli`)."""

import json
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from ..schemas import CreatedTask, Task
from .cli import (
    AccessKeyOpt,
    ApiKeyOpt,
    BaseUrl,
    JsonOpt,
    LayoutOpt,
    ProgressView,
    SecretKeyOpt,
    TimeoutOpt,
    _client,
    _reporting,
)
from .requests import encode_media
from .sync import KlingClient

VOICES = "general/custom-voices"
ELEMENTS = "general/advanced-custom-elements"

voices_app = typer.Typer(help="Custom voices: create, get, list, presets, delete.", no_args_is_help=True)
elements_app = typer.Typer(help="Elements: create, get, list, presets, delete.", no_args_is_help=True)

IdArg = Annotated[str, typer.Argument(help="The creation task id (or its external_task_id).")]
NoWaitOpt = Annotated[bool, typer.Option("--no-wait", help="Print the created task and return at once.")]
ExternalOpt = Annotated[str | None, typer.Option("--external-task-id", help="Your own id for the task.")]
PageOpt = Annotated[int, typer.Option("--page", min=1, max=1000, help="Page number.")]


@dataclass(frozen=True)
class Kind:
    """What differs between voices and elements on the command line."""

    family: str
    key: str  # task_result list
    id_field: str
    name_field: str
    max_page_size: int

    def lines(self, task: Task) -> list[str]:
        items = (task.task_result.model_extra or {}).get(self.key) if task.task_result else None
        if items is None and task.task_result is not None:
            items = getattr(task.task_result, self.key, None)
        out = []
        for item in items or []:
            record = item if isinstance(item, dict) else item.model_dump(mode="json")
            extra = record.get("trial_url") or record.get("status") or ""
            out.append(f"{record.get(self.id_field)}\t{record.get(self.name_field)}\t{extra}".rstrip())
        return out


VOICE = Kind(VOICES, "voices", "voice_id", "voice_name", 1000)
ELEMENT = Kind(ELEMENTS, "elements", "element_id", "element_name", 500)


def _show(kind: Kind, tasks: list[Task], as_json: bool) -> None:
    if as_json:
        typer.echo(
            json.dumps([t.model_dump(mode="json", exclude_none=True) for t in tasks], ensure_ascii=False)
        )
        return
    for task in tasks:
        lines = kind.lines(task)
        for line in lines or [f"{task.task_id}\t{task.task_status}\t{task.task_status_msg}".rstrip()]:
            typer.echo(line)


def _create(
    kind: Kind, client: KlingClient, body: dict[str, Any], wait: bool, timeout: float, as_json: bool
) -> None:
    created: CreatedTask = client.create(kind.family, body)
    if not wait:
        typer.echo(
            json.dumps(created.model_dump(mode="json"), ensure_ascii=False) if as_json else created.task_id
        )
        return
    with ProgressView(enabled=True) as view:
        view(created)
        done = client.wait(created, family=kind.family, timeout=timeout, on_progress=view)
    _show(kind, [done], as_json)


def _get(kind: Kind, client: KlingClient, ident: str, as_json: bool) -> None:
    task = client.get_task(kind.family, ident)
    if as_json:
        typer.echo(json.dumps(task.model_dump(mode="json", exclude_none=True), ensure_ascii=False))
    else:
        _show(kind, [task], False)


# ---- voices -----------------------------------------------------------------------------------


@voices_app.command("create")
def voices_create(
    name: Annotated[str, typer.Option("--name", help="voice_name (at most 20 characters).")],
    clip: Annotated[
        str | None, typer.Option("--clip", help="voice_url: a file or URL (mp3/wav/mp4/mov, 5–30 s).")
    ] = None,
    video_id: Annotated[
        str | None, typer.Option("--video-id", help="A video with sound this gateway made.")
    ] = None,
    external_task_id: ExternalOpt = None,
    no_wait: NoWaitOpt = False,
    timeout: TimeoutOpt = 900.0,
    as_json: JsonOpt = False,
    base_url: BaseUrl = None,
    api_key: ApiKeyOpt = None,
    access_key: AccessKeyOpt = None,
    secret_key: SecretKeyOpt = None,
    layout: LayoutOpt = None,
) -> None:
    """Create a custom voice from a clip or a video; prints voice_id, name and trial URL."""
    body: dict[str, Any] = {"voice_name": name}
    if clip is not None:
        body["voice_url"] = clip  # a local file is read and sent as Base64 by the SDK
    if video_id is not None:
        body["video_id"] = video_id
    if external_task_id is not None:
        body["external_task_id"] = external_task_id
    with _reporting(as_json), _client(base_url, api_key, access_key, secret_key, layout) as client:
        _create(VOICE, client, body, not no_wait, timeout, as_json)


# ---- elements ---------------------------------------------------------------------------------


@elements_app.command("create")
def elements_create(
    name: Annotated[str, typer.Option("--name", help="element_name (at most 20 characters).")],
    description: Annotated[str, typer.Option("--description", help="element_description (≤100).")],
    image: Annotated[
        list[str] | None,
        typer.Option("--image", help="Frontal image first, then 1–3 more angles (files or URLs)."),
    ] = None,
    video: Annotated[
        str | None, typer.Option("--video", help="One 3–8 s reference video (file or URL).")
    ] = None,
    voice_id: Annotated[str | None, typer.Option("--voice-id", help="element_voice_id to bind.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="tag_id, e.g. o_102 (repeatable).")] = None,
    external_task_id: ExternalOpt = None,
    no_wait: NoWaitOpt = False,
    timeout: TimeoutOpt = 900.0,
    as_json: JsonOpt = False,
    base_url: BaseUrl = None,
    api_key: ApiKeyOpt = None,
    access_key: AccessKeyOpt = None,
    secret_key: SecretKeyOpt = None,
    layout: LayoutOpt = None,
) -> None:
    """Create an element from images (--image, repeated) or a video (--video)."""
    body: dict[str, Any] = {"element_name": name, "element_description": description}
    if video is not None:
        body["reference_type"] = "video_refer"
        body["element_video_list"] = {"refer_videos": [{"video_url": encode_media(video)}]}
    else:
        images = [encode_media(i) for i in image or []]
        body["reference_type"] = "image_refer"
        if images:
            refer = [{"image_url": i} for i in images[1:]]
            body["element_image_list"] = {"frontal_image": images[0], "refer_images": refer}
    if voice_id is not None:
        body["element_voice_id"] = voice_id
    if tag:
        body["tag_list"] = [{"tag_id": t} for t in tag]
    if external_task_id is not None:
        body["external_task_id"] = external_task_id
    with _reporting(as_json), _client(base_url, api_key, access_key, secret_key, layout) as client:
        _create(ELEMENT, client, body, not no_wait, timeout, as_json)


def _shared_commands(app: typer.Typer, kind: Kind, noun: str) -> None:
    """get, list, presets and delete: the same four commands for voices and elements."""
    Size = Annotated[  # noqa: N806 - a type alias for typer
        int,
        typer.Option("--page-size", min=1, max=kind.max_page_size, help=f"{noun.capitalize()}s per page."),
    ]

    @app.command("get")
    def get(
        ident: IdArg,
        as_json: JsonOpt = False,
        base_url: BaseUrl = None,
        api_key: ApiKeyOpt = None,
        access_key: AccessKeyOpt = None,
        secret_key: SecretKeyOpt = None,
        layout: LayoutOpt = None,
    ) -> None:
        with _reporting(as_json), _client(base_url, api_key, access_key, secret_key, layout) as client:
            _get(kind, client, ident, as_json)

    @app.command("list")
    def list_own(
        page: PageOpt = 1,
        page_size: Size = 30,
        as_json: JsonOpt = False,
        base_url: BaseUrl = None,
        api_key: ApiKeyOpt = None,
        access_key: AccessKeyOpt = None,
        secret_key: SecretKeyOpt = None,
        layout: LayoutOpt = None,
    ) -> None:
        with _reporting(as_json), _client(base_url, api_key, access_key, secret_key, layout) as client:
            _show(kind, client.list_page(kind.family, page=page, page_size=page_size), as_json)

    @app.command("presets")
    def presets(
        page: PageOpt = 1,
        page_size: Size = 30,
        as_json: JsonOpt = False,
        base_url: BaseUrl = None,
        api_key: ApiKeyOpt = None,
        access_key: AccessKeyOpt = None,
        secret_key: SecretKeyOpt = None,
        layout: LayoutOpt = None,
    ) -> None:
        with _reporting(as_json), _client(base_url, api_key, access_key, secret_key, layout) as client:
            found = client.preset_voices if kind is VOICE else client.preset_elements
            _show(kind, found(page=page, page_size=page_size), as_json)

    @app.command("delete")
    def delete(
        ident: Annotated[str, typer.Argument(help=f"{kind.id_field} of a {noun} of this account.")],
        as_json: JsonOpt = False,
        base_url: BaseUrl = None,
        api_key: ApiKeyOpt = None,
        access_key: AccessKeyOpt = None,
        secret_key: SecretKeyOpt = None,
        layout: LayoutOpt = None,
    ) -> None:
        with _reporting(as_json), _client(base_url, api_key, access_key, secret_key, layout) as client:
            if kind is VOICE:
                data = client.delete_voice(ident)
            else:
                data = client.delete_element(int(ident) if ident.isdigit() else ident)
            typer.echo(json.dumps(data) if as_json else f"{data.get('task_id')}\t{data.get('task_status')}")

    get.__doc__ = f"Show one {noun}'s creation task."
    list_own.__doc__ = f"List this account's {noun}s, newest first."
    presets.__doc__ = f"List the preset {noun}s."
    delete.__doc__ = f"Delete a {noun} of this account (it can no longer be used)."


_shared_commands(voices_app, VOICE, "voice")
_shared_commands(elements_app, ELEMENT, "element")


def register(app: typer.Typer) -> None:
    app.add_typer(voices_app, name="voices")
    app.add_typer(elements_app, name="elements")
