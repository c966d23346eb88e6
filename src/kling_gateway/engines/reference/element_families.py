"""Elements (spec more §7.7): the reference engine keeps the element's references as its files.

An image element stores its frontal image and angles as PNGs (role ``element_image``, index 0 =
frontal); a video element stores its reference video unchanged (role ``element_video``). The
engine turns them into the ``elements[]`` record of the creation task.
"""

from __future__ import annotations

from pathlib import Path

from .encode import open_image
from .image_families import _png
from .jobs import RenderedFile, RenderJob


def render_element(job: RenderJob) -> list[RenderedFile]:
    if job.inputs.get("video") is not None:
        path = Path(job.out_dir) / "element.mp4"
        path.write_bytes(job.inputs["video"])
        return [RenderedFile("element_video", path.name, str(path), "video/mp4")]
    images = [job.inputs["frontal"], *job.inputs.get("refers", [])]
    return [_png(job, open_image(data).convert("RGB"), k, "element_image") for k, data in enumerate(images)]
