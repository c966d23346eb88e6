"""Result files: which files a task has, where they go, and resumable, size-checked transfers."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import httpx

from ..schemas import Task
from .errors import DownloadError, KlingAPIError
from .transport import Plan, RetryPolicy, Sleep, error_from_response, is_transient

CHUNK = 256 * 1024
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)")


@dataclass(frozen=True)
class ResultFile:
    url: str
    name: str  # suggested file name, e.g. "821658504044617728-0.mp4"
    kind: str  # "video", "image" or "audio"


@dataclass(frozen=True)
class Fetch:
    """Stream ``url`` into ``part``: from ``offset`` with a Range request when it is not 0."""

    url: str
    part: Path
    offset: int
    if_range: str | None = None


@dataclass
class FetchOutcome:
    status: int | None = None
    headers: httpx.Headers | None = None
    error: Exception | None = None
    response: httpx.Response | None = None  # kept (read) for a non-success answer


def _suffix(url: str, default: str) -> str:
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{2,5}", suffix or "") else default


def result_files(task: Task) -> list[ResultFile]:
    """Every result file of a task: videos, images (masks, side views), faces, and audio in each
    format given (spec §10)."""
    result = task.task_result
    files: list[ResultFile] = []
    tid = task.task_id
    for i, video in enumerate(result.videos or []):
        files.append(ResultFile(video.url, f"{tid}-{i}{_suffix(video.url, '.mp4')}", "video"))
    for k, image in enumerate(result.images or []):
        label = image.type or str(image.index if image.index is not None else k)  # masks: by type
        named = (("", image.url), ("-1", image.url_1), ("-2", image.url_2), ("-3", image.url_3))
        for suffix, url in named:  # url_1..url_3: ai-multi-shot's side views
            if url:
                files.append(ResultFile(url, f"{tid}-{label}{suffix}{_suffix(url, '.png')}", "image"))
    for i, face in enumerate(result.face_data or []):
        files.append(
            ResultFile(face.face_image, f"{tid}-face-{i}{_suffix(face.face_image, '.png')}", "image")
        )
    for i, audio in enumerate(result.audios or []):
        for url, default in ((audio.url_mp3, ".mp3"), (audio.url_wav, ".wav"), (audio.url, ".mp3")):
            if url:
                files.append(ResultFile(url, f"{tid}-audio-{i}{_suffix(url, default)}", "audio"))
    return files


def targets(files: list[ResultFile], dest: str | os.PathLike[str]) -> list[Path]:
    """Where each file goes.

    ``dest`` is a directory when it exists as one, ends with a separator or has no suffix: files
    keep their suggested names. Otherwise it is a file name: one result is written there; several
    get ``stem[-n].ext`` (``fox.mp4``, ``fox.mp3``, ``fox.wav``; ``pic-0.png``, ``pic-1.png``).
    """
    text = os.fspath(dest)
    path = Path(text).expanduser()
    if path.is_dir() or text.endswith(("/", os.sep)) or not path.suffix:
        return [path / f.name for f in files]
    if len(files) == 1:
        return [path]
    exts = [Path(f.name).suffix for f in files]
    seen: dict[str, int] = {}
    out = []
    for ext in exts:
        n = seen.get(ext, 0)
        seen[ext] = n + 1
        numbered = exts.count(ext) > 1
        out.append(path.with_name(f"{path.stem}-{n}{ext}" if numbered else f"{path.stem}{ext}"))
    return out


def content_range(headers: httpx.Headers) -> tuple[int | None, int | None]:
    """``(start, total)`` of a ``Content-Range`` header (either may be unknown)."""
    match = _CONTENT_RANGE.match(headers.get("content-range", "").strip())
    if not match:
        return None, None
    start = int(match.group(1)) if match.group(1) is not None else None
    total = int(match.group(3)) if match.group(3) != "*" else None
    return start, total


def write_mode(status: int, headers: httpx.Headers, offset: int) -> str | None:
    """How to open the partial file for this answer; ``None`` when the body is not file content."""
    if status == 206:
        start, _ = content_range(headers)
        if start != offset:
            raise DownloadError(f"asked for bytes from {offset}, the server sent from {start}")
        return "ab"
    if status == 200:
        return "wb"  # the whole file (the server ignored or refused the range): start over
    return None


def expected_size(status: int | None, headers: httpx.Headers | None) -> int | None:
    if status is None or headers is None:
        return None
    if status in (206, 416):
        return content_range(headers)[1]
    if status == 200 and headers.get("content-length", "").isdigit():
        return int(headers["content-length"])
    return None


def fetch_headers(step: Fetch) -> dict[str, str]:
    # identity: sizes are compared with Content-Length, which a compressed body would not match
    headers = {"Accept-Encoding": "identity"}
    if step.offset:
        headers["Range"] = f"bytes={step.offset}-"
        if step.if_range:
            headers["If-Range"] = step.if_range
    return headers


def download_file(url: str, target: Path, retry: RetryPolicy) -> Plan[Path]:
    """Transfer one file to ``target`` via ``target.part``, resuming after drops.

    A drop that made progress resumes at once (the file is finite, so this ends); attempts
    without progress back off and are bounded. The final size must equal the total the server
    announced (Content-Length of a 200, or the total in Content-Range).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    failures = 0
    total: int | None = None
    etag: str | None = None
    while True:
        offset = part.stat().st_size if part.exists() else 0
        if total is not None and offset >= total:
            break
        outcome: FetchOutcome = yield Fetch(url, part, offset, etag)
        if outcome.headers is not None:
            etag = outcome.headers.get("etag") or etag
            total = expected_size(outcome.status, outcome.headers) or total
        if outcome.status == 416:  # nothing past the offset: complete, or a stale part file
            if total is not None and offset == total:
                break
            part.unlink(missing_ok=True)
            total = None
        elif outcome.response is not None:
            error = error_from_response(outcome.response)
            if not is_transient(error) or failures + 1 >= retry.max_attempts:
                raise error
        size = part.stat().st_size if part.exists() else 0
        if outcome.error is None and outcome.response is None and (total is None or size >= total):
            break
        if size > offset:
            failures = 0  # progress: resume right away
            continue
        failures += 1
        if failures >= retry.max_attempts:
            raise DownloadError(
                f"{target.name}: incomplete after {failures} attempts without progress "
                f"({size} of {total if total is not None else '?'} bytes): {outcome.error}"
            )
        yield Sleep(retry.backoff(failures))
    size = part.stat().st_size if part.exists() else 0
    if total is not None and size != total:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{target.name}: got {size} bytes, the server announced {total}")
    part.replace(target)
    return target


def download_all(task: Task, dest: str | os.PathLike[str], retry: RetryPolicy) -> Plan[list[Path]]:
    files = result_files(task)
    if not files:
        raise DownloadError(f"task {task.task_id} has no result files")
    paths = []
    for file, target in zip(files, targets(files, dest), strict=True):
        try:
            paths.append((yield from download_file(file.url, target, retry)))
        except KlingAPIError as exc:
            raise DownloadError(f"{file.url}: {exc}") from exc
    return paths
