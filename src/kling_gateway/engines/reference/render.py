"""The process-pool entry point: family name → renderer."""

from __future__ import annotations

from collections.abc import Callable

from kling_gateway.schemas.voices import VOICES
from kling_gateway.standard2.products import PRODUCTS

from .audio_families import render_text_to_audio, render_tts
from .element_families import render_element
from .face_families import (
    render_advanced_lip_sync,
    render_ai_multi_shot,
    render_identify_face,
    render_image_recognize,
)
from .image_families import render_generations, render_try_on
from .image_tools import render_expand, render_multi_image2image, render_omni_image
from .jobs import RenderedFile, RenderJob
from .omni_families import render_avatar, render_motion_control, render_omni_video
from .standard2_families import render_standard2
from .video_families import (
    render_effects,
    render_image2video,
    render_lip_sync,
    render_multi_elements,
    render_multi_image2video,
    render_text2video,
    render_video_extend,
    render_video_to_audio,
)
from .voice_families import render_voice
from .watermark import add_watermarks

RENDERERS: dict[str, Callable[[RenderJob], list[RenderedFile]]] = {
    "videos/text2video": render_text2video,
    "videos/image2video": render_image2video,
    "videos/multi-image2video": render_multi_image2video,
    "videos/video-extend": render_video_extend,
    "videos/lip-sync": render_lip_sync,
    "videos/effects": render_effects,
    "videos/multi-elements": render_multi_elements,
    "images/generations": render_generations,
    "images/kolors-virtual-try-on": render_try_on,
    "videos/omni-video": render_omni_video,
    "videos/motion-control": render_motion_control,
    "audio/text-to-audio": render_text_to_audio,
    "audio/video-to-audio": render_video_to_audio,
    "audio/tts": render_tts,
    "images/omni-image": render_omni_image,
    "images/multi-image2image": render_multi_image2image,
    "images/editing/expand": render_expand,
    "videos/avatar/image2video": render_avatar,
    "general/advanced-custom-elements": render_element,
    "videos/identify-face": render_identify_face,
    "videos/advanced-lip-sync": render_advanced_lip_sync,
    "videos/image-recognize": render_image_recognize,
    "general/ai-multi-shot": render_ai_multi_shot,
    VOICES: render_voice,
}


RENDERERS.update({product.family: render_standard2 for product in PRODUCTS.values()})


def render(job: RenderJob) -> list[RenderedFile]:
    """Run one job (in a worker process); a watermarked copy of each result when asked."""
    return add_watermarks(job, RENDERERS[job.family](job))
