"""``kling-gateway submit`` and ``kling-gateway task ...``: the SDK from the command line.

Exit codes: 0 ok, 2 usage (including a request the wire model rejects), 3 authentication
(missing or refused credentials), 4 task failed, 5 wait timed out, 6 other API error, 7 network.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from ..schemas import FAMILIES, CreatedTask, Family, Task, TaskStatus
from ..standard2.products import PRODUCTS
from .errors import (
    AuthenticationError,
    ClientValidationError,
    ConfigurationError,
    KlingAPIError,
    KlingClientError,
    MissingCredentialsError,
    NetworkError,
    TaskFailedError,
    WaitTimeoutError,
)
from .layout import Layout
from .requests import encode_media
from .standard2 import record_task
from .sync import KlingClient

EXIT_OK, EXIT_USAGE, EXIT_AUTH, EXIT_FAILED, EXIT_TIMEOUT, EXIT_API, EXIT_NETWORK = 0, 2, 3, 4, 5, 6, 7

task_app = typer.Typer(help="Query, list, wait for and download tasks.", no_args_is_help=True)

BaseUrl = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        envvar="KLING_BASE_URL",
        show_envvar=True,
        help="API base URL; ending in /kling means the CometAPI layout.",
    ),
]
ApiKeyOpt = Annotated[
    str | None,
    typer.Option("--api-key", envvar="KLING_API_KEY", show_envvar=True, help="API key sent as Bearer."),
]
AccessKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--access-key", envvar="KLING_ACCESS_KEY", show_envvar=True, help="Access key (JWT issuer)."
    ),
]
SecretKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--secret-key", envvar="KLING_SECRET_KEY", show_envvar=True, help="Secret key (JWT signing key)."
    ),
]
LayoutOpt = Annotated[
    str | None, typer.Option("--layout", help="Force 'official' (/v1) or 'cometapi' (/kling/v1).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds to wait for the task.")]
FamilyArg = Annotated[str, typer.Argument(help="Task family, e.g. videos/text2video.")]


def _family(name: str) -> Family:
    family = FAMILIES.get(name.strip("/"))
    if family is None:
        raise typer.BadParameter(
            f"unknown family '{name}'; one of: {', '.join(FAMILIES)}", param_hint="FAMILY"
        )
    return family


def _client(
    base_url: str | None,
    api_key: str | None,
    access_key: str | None,
    secret_key: str | None,
    layout: str | None,
) -> KlingClient:
    if layout not in (None, "official", "cometapi"):
        raise typer.BadParameter("must be 'official' or 'cometapi'", param_hint="--layout")
    chosen: Layout | None = layout  # type: ignore[assignment]
    return KlingClient(base_url, api_key=api_key, access_key=access_key, secret_key=secret_key, layout=chosen)


def exit_code_for(error: BaseException) -> int:
    if isinstance(error, MissingCredentialsError | AuthenticationError):
        return EXIT_AUTH
    if isinstance(error, ClientValidationError | ConfigurationError):
        return EXIT_USAGE
    if isinstance(error, TaskFailedError):
        return EXIT_FAILED
    if isinstance(error, WaitTimeoutError):
        return EXIT_TIMEOUT
    if isinstance(error, NetworkError):
        return EXIT_NETWORK
    return EXIT_API


def _error_json(error: KlingClientError) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": type(error).__name__,
        "message": str(error),
        "exit_code": exit_code_for(error),
    }
    if isinstance(error, KlingAPIError):
        out.update(code=error.code, request_id=error.request_id, http_status=error.http_status)
    if isinstance(error, TaskFailedError | WaitTimeoutError):
        out["task_id"] = error.task_id
        if error.task is not None:
            out["task"] = error.task.model_dump(mode="json")
    return out


@contextmanager
def _reporting(as_json: bool) -> Iterator[None]:
    """Turn SDK errors into a message (or JSON) and the documented exit code."""
    try:
        yield
    except KlingClientError as error:
        if as_json:
            typer.echo(json.dumps({"error": _error_json(error)}, ensure_ascii=False))
        typer.echo(f"error: {error}", err=True)
        if isinstance(error, WaitTimeoutError):
            typer.echo(f"resume with: kling-gateway task wait FAMILY {error.task_id}", err=True)
        raise typer.Exit(exit_code_for(error)) from None


class ProgressView:
    """Progress of a wait on stderr: one line per status change (``submitted`` included), with the
    elapsed time; on a terminal a live line under them also shows the current status ticking."""

    def __init__(self, enabled: bool = True, *, live: bool | None = None, console: Any = None):
        self.enabled = enabled
        self.live = sys.stderr.isatty() if live is None else live
        self.console = console  # a rich Console for the live view (default: stderr)
        self.started = time.monotonic()
        self.task: Task | CreatedTask | None = None
        self.lines: list[str] = []
        self._last: str | None = None
        self._live: Any = None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def __rich__(self) -> str:
        if self.task is None:
            return f"waiting for the first answer · {self.elapsed():.1f}s"
        return f"task {self.task.task_id}: {self.task.task_status} · {self.elapsed():.1f}s"

    def __enter__(self) -> ProgressView:
        if self.enabled and self.live:
            from rich.console import Console
            from rich.live import Live
            from rich.spinner import Spinner

            self._live = Live(
                Spinner("dots", text=self),
                console=self.console or Console(stderr=True),
                refresh_per_second=8,
                transient=True,
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def __call__(self, task: Task | CreatedTask) -> None:
        self.task = task
        if not self.enabled or task.task_status == self._last:
            return
        self._last = task.task_status
        line = f"task {task.task_id}: {task.task_status} ({self.elapsed():.1f}s)"
        message = getattr(task, "task_status_msg", "")
        if message and task.task_status == TaskStatus.FAILED:
            line += f": {message}"
        self.lines.append(line)
        if self._live is not None:
            self._live.console.print(line, markup=False, highlight=False)
        else:
            typer.echo(line, err=True)


def set_dotted(body: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = body
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise typer.BadParameter(f"'{part}' is not an object in {key}", param_hint="--param")
        node = child
    node[parts[-1]] = value


def parse_param(text: str) -> tuple[str, Any]:
    """``key=value`` (a string; ``{...}``/``[...]`` are parsed as JSON) or ``key:=json``."""
    if ":=" in text and text.index(":=") < text.find("=") + 1:
        key, raw = text.split(":=", 1)
        try:
            return key.strip(), json.loads(raw)
        except ValueError as exc:
            raise typer.BadParameter(f"{text}: not JSON ({exc})", param_hint="--param") from None
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise typer.BadParameter(f"{text!r}: expected key=value", param_hint="--param")
    if value[:1] in "{[":
        try:
            return key.strip(), json.loads(value)
        except ValueError:
            pass
    return key.strip(), value


def place_images(family: Family, body: dict[str, Any], images: list[str]) -> None:
    """Put ``--image`` values where the family takes images: scalar fields in order
    (``image``, ``image_tail``; ``human_image``, ``cloth_image``), or all into its list field
    (``image_list``, effects' ``input.images``) when there are more images than scalar fields."""
    if not images:
        return
    slots = [path for path, kind in family.inputs if kind == "image"]
    scalars = [p for p in slots if "[]" not in p]
    lists = [p for p in slots if "[]" in p]
    if lists and (not scalars or len(images) > len(scalars)):
        head, _, tail = lists[0].partition("[]")
        set_dotted(body, head, [{tail.lstrip("."): image} if tail else image for image in images])
        return
    if len(images) > len(scalars):
        raise typer.BadParameter(
            f"{family.name} takes {len(scalars)} image(s), got {len(images)}", param_hint="--image"
        )
    for path, image in zip(scalars, images, strict=False):
        set_dotted(body, path, image)


def _print_task(task: Task, as_json: bool, files: list[Path] | None = None) -> None:
    if as_json:
        data = task.model_dump(mode="json", exclude_none=True)
        typer.echo(
            json.dumps(
                {"task": data, "files": [str(f) for f in files]} if files is not None else data,
                ensure_ascii=False,
            )
        )
        return
    line = f"{task.task_id}\t{task.task_status}"
    if task.task_status_msg:
        line += f"\t{task.task_status_msg}"
    typer.echo(line)
    if files is not None:
        for path in files:
            typer.echo(str(path))
    else:
        from .download import result_files

        for file in result_files(task) if task.task_status == TaskStatus.SUCCEED else []:
            typer.echo(file.url)


def _wait_and_fetch(
    client: KlingClient, task: Any, family: str, timeout: float, output: Path | None, as_json: bool
) -> None:
    with ProgressView(enabled=True) as view:
        if isinstance(task, CreatedTask):
            view(task)  # what the create answered: submitted, at 0.0s
        done = client.wait(task, family=family, timeout=timeout, on_progress=view)
    files = client.download(done, output, family=family) if output is not None else None
    _print_task(done, as_json, files)


# --image on the new standard: the content types each product takes images as, in order
IMAGE_CONTENTS = {
    "image-to-video": ("first_frame", "last_frame"),
    "omni-video": ("refer_image",),
    "motion-control": ("image",),
}


def new_standard_body(target: str, body: dict[str, Any], prompt: str | None, images: list[str]) -> None:
    """``--prompt``/``--image`` in a new-standard body: text-to-video takes ``prompt``, the
    other products a ``contents`` item of type prompt and image items (a ``--param`` such as
    ``settings.duration:=5`` goes where it says)."""
    product = target.split("/", 1)[0]
    if product == "text-to-video":
        if images:
            raise typer.BadParameter("text-to-video takes no images", param_hint="--image")
        if prompt is not None:
            body["prompt"] = prompt
        return
    contents = list(body.get("contents") or [])
    if prompt is not None:
        contents.append({"type": "prompt", "text": prompt})
    kinds = IMAGE_CONTENTS[product]
    if len(images) > len(kinds) and kinds[-1] != "refer_image":
        raise typer.BadParameter(
            f"{product} takes {len(kinds)} image(s), got {len(images)}", param_hint="--image"
        )
    for i, image in enumerate(images):
        contents.append({"type": kinds[min(i, len(kinds) - 1)], "url": encode_media(image)})
    body["contents"] = contents


def _submit_standard2(
    client: KlingClient,
    target: str,
    body: dict[str, Any],
    wait: bool,
    timeout: float,
    output: Path | None,
    as_json: bool,
) -> None:
    created = client.standard2.create(target, body)
    if not wait:
        if as_json:
            typer.echo(json.dumps(created.model_dump(mode="json", exclude_none=True), ensure_ascii=False))
        else:
            typer.echo(f"{created.id}\t{created.status}")
        return
    with ProgressView(enabled=True) as view:
        record = client.standard2.wait(
            created.id, timeout=timeout, on_progress=lambda r: view(record_task(r))
        )
    files = client.standard2.download(record, output) if output is not None else None
    _print_task(record_task(record), as_json, files)


def submit(
    family: FamilyArg,
    prompt: Annotated[str | None, typer.Option("--prompt", help="The prompt.")] = None,
    image: Annotated[
        list[str] | None, typer.Option("--image", help="Image file or URL (repeatable).")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", help="key=value or key:=json (repeatable; dotted keys like input.duration=5)."
        ),
    ] = None,
    json_body: Annotated[
        Path | None, typer.Option("--json-body", help="Request body JSON file ('-' = stdin).")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the task finishes.")] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Download results here (implies --wait): a file name, or a directory. A task with "
            "several files gets one name per file from the same stem: -o x.mp3 on a text-to-audio task "
            "writes x.mp3 and x.wav; -o pic.png with 2 images writes pic-0.png and pic-1.png.",
        ),
    ] = None,
    timeout: TimeoutOpt = 900.0,
    as_json: JsonOpt = False,
    base_url: BaseUrl = None,
    api_key: ApiKeyOpt = None,
    access_key: AccessKeyOpt = None,
    secret_key: SecretKeyOpt = None,
    layout: LayoutOpt = None,
) -> None:
    """Create a task, e.g. submit videos/text2video --prompt "a red fox" --param duration=5 --wait -o fox.mp4

    New standard: submit text-to-video/kling-3.0 --prompt "a fox" --param settings.duration:=5 -o fox.mp4

    With --wait or -o, progress (each status and the elapsed time) goes to stderr.
    """
    body: dict[str, Any] = {}
    if json_body is not None:
        try:
            text = sys.stdin.read() if str(json_body) == "-" else json_body.read_text()
            loaded = json.loads(text)
        except (OSError, ValueError) as exc:
            raise typer.BadParameter(str(exc), param_hint="--json-body") from None
        if not isinstance(loaded, dict):
            raise typer.BadParameter("the body must be a JSON object", param_hint="--json-body")
        body = loaded
    if family.split("/", 1)[0] in PRODUCTS:  # the new standard: <product>/<model>
        for item in param or []:
            key, value = parse_param(item)
            set_dotted(body, key, value)
        new_standard_body(family, body, prompt, list(image or []))
        with _reporting(as_json), _client(base_url, api_key, access_key, secret_key, layout) as client:
            _submit_standard2(client, family, body, wait or output is not None, timeout, output, as_json)
        return
    fam = _family(family)
    if prompt is not None:
        body["prompt"] = prompt
    place_images(fam, body, list(image or []))
    for item in param or []:
        key, value = parse_param(item)
        set_dotted(body, key, value)
    with _reporting(as_json):
        with _client(base_url, api_key, access_key, secret_key, layout) as client:
            created = client.create(fam.name, body)
            if not (wait or output is not None):
                if as_json:
                    typer.echo(
                        json.dumps(created.model_dump(mode="json", exclude_none=True), ensure_ascii=False)
                    )
                else:
                    typer.echo(f"{created.task_id}\t{created.task_status}")
                return
            _wait_and_fetch(client, created, fam.name, timeout, output, as_json)


@task_app.command("get")
def task_get(
    family: FamilyArg,
    task_id: Annotated[str, typer.Argument(help="task_id or external_task_id.")],
    as_json: JsonOpt = False,
    base_url: BaseUrl = None,
    api_key: ApiKeyOpt = None,
    access_key: AccessKeyOpt = None,
    secret_key: SecretKeyOpt = None,
    layout: LayoutOpt = None,
) -> None:
    """Show one task."""
    fam = _family(family)
    with _reporting(as_json), _client(base_url, api_key, access_key, secret_key, layout) as client:
        _print_task(client.get_task(fam.name, task_id), as_json)


@task_app.command("list")
def task_list(
    family: FamilyArg,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=500, help="Tasks per request.")] = 30,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Stop after this many tasks.")] = None,
    as_json: JsonOpt = False,
    base_url: BaseUrl = None,
    api_key: ApiKeyOpt = None,
    access_key: AccessKeyOpt = None,
    secret_key: SecretKeyOpt = None,
    layout: LayoutOpt = None,
) -> None:
    """List a family's tasks, newest first, across all pages."""
    fam = _family(family)
    with _reporting(as_json), _client(base_url, api_key, access_key, secret_key, layout) as client:
        tasks = []
        for task in client.list_tasks(fam.name, page_size=page_size):
            tasks.append(task)
            if limit is not None and len(tasks) >= limit:
                break
        if as_json:
            typer.echo(
                json.dumps([t.model_dump(mode="json", exclude_none=True) for t in tasks], ensure_ascii=False)
            )
            return
        typer.echo(task_table(tasks), nl=False)


def _when(epoch_ms: int | None) -> str:
    if not epoch_ms:
        return "-"
    return datetime.fromtimestamp(epoch_ms / 1000).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def task_table(tasks: list[Task]) -> str:
    """Tasks as an aligned table with headers and local times (``--json`` gives the raw fields)."""
    header = ("TASK_ID", "STATUS", "CREATED", "UPDATED", "EXTERNAL_ID")
    rows = [
        (
            t.task_id,
            t.task_status,
            _when(t.created_at),
            _when(t.updated_at),
            t.task_info.external_task_id or "",
        )
        for t in tasks
    ]
    if not rows:
        return "no tasks\n"
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]
    ]
    return "\n".join(lines) + "\n"


@task_app.command("wait")
def task_wait(
    family: FamilyArg,
    task_id: Annotated[str, typer.Argument(help="task_id or external_task_id.")],
    timeout: TimeoutOpt = 900.0,
    as_json: JsonOpt = False,
    base_url: BaseUrl = None,
    api_key: ApiKeyOpt = None,
    access_key: AccessKeyOpt = None,
    secret_key: SecretKeyOpt = None,
    layout: LayoutOpt = None,
) -> None:
    """Wait for a task to finish (exit 4 if it failed, 5 on timeout)."""
    fam = _family(family)
    with _reporting(as_json), _client(base_url, api_key, access_key, secret_key, layout) as client:
        _wait_and_fetch(client, task_id, fam.name, timeout, None, as_json)


@task_app.command("download")
def task_download(
    family: FamilyArg,
    task_id: Annotated[str, typer.Argument(help="task_id or external_task_id.")],
    dest: Annotated[Path, typer.Argument(help="Directory (or file name for a single result).")],
    timeout: TimeoutOpt = 900.0,
    as_json: JsonOpt = False,
    base_url: BaseUrl = None,
    api_key: ApiKeyOpt = None,
    access_key: AccessKeyOpt = None,
    secret_key: SecretKeyOpt = None,
    layout: LayoutOpt = None,
) -> None:
    """Download every result file of a task (waiting for it first if needed)."""
    fam = _family(family)
    with _reporting(as_json), _client(base_url, api_key, access_key, secret_key, layout) as client:
        _wait_and_fetch(client, task_id, fam.name, timeout, dest, as_json)


def register(app: typer.Typer) -> None:
    """Add ``submit`` and the ``task`` group to the main ``kling-gateway`` app."""
    app.command("submit")(submit)
    app.add_typer(task_app, name="task")
