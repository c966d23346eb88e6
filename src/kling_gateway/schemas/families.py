"""The task families the gateway serves: path, request model, and where their media inputs sit."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from .audio import TextToAudioRequest, TtsRequest, VideoToAudioRequest
from .common import WireModel
from .elements import ElementRequest
from .faces import AdvancedLipSyncRequest, AiMultiShotRequest, IdentifyFaceRequest, ImageRecognizeRequest
from .image_tools import ExpandRequest, MultiImage2ImageRequest, OmniImageRequest
from .images import ImageGenerationRequest, VirtualTryOnRequest
from .omni import AvatarRequest, MotionControlRequest, OmniVideoRequest
from .videos import (
    EffectsRequest,
    Image2VideoRequest,
    LipSyncRequest,
    MultiElementsRequest,
    MultiImage2VideoRequest,
    Text2VideoRequest,
    VideoExtendRequest,
)
from .voices import VoiceRequest

InputKind = Literal["image", "video", "audio"]


@dataclass(frozen=True)
class Family:
    """One task family, e.g. ``videos/text2video``.

    ``inputs`` lists media fields as dotted paths; ``[]`` walks a list (``image_list[].image``).
    A ``synchronous`` family answers its create call with the finished task and has no query,
    list, events or callbacks.
    """

    name: str
    request_model: type[WireModel]
    result_kind: Literal["video", "image", "audio", "element", "voice"]
    inputs: tuple[tuple[str, InputKind], ...] = ()
    summary: str = ""
    synchronous: bool = False

    @property
    def resource(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def action(self) -> str:
        return self.name.split("/", 1)[1]


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "images/generations",
            ImageGenerationRequest,
            "image",
            (("image", "image"),),
            "Text-to-image and image-to-image generation",
        ),
        Family(
            "images/kolors-virtual-try-on",
            VirtualTryOnRequest,
            "image",
            (("human_image", "image"), ("cloth_image", "image")),
            "Virtual try-on (Kolors)",
        ),
        Family(
            "images/omni-image",
            OmniImageRequest,
            "image",
            (("image_list[].image", "image"),),
            "Omni image (single or series)",
        ),
        Family(
            "images/multi-image2image",
            MultiImage2ImageRequest,
            "image",
            (
                ("subject_image_list[].subject_image", "image"),
                ("scene_image", "image"),
                ("style_image", "image"),
            ),
            "Subjects, scene and style to image",
        ),
        Family(
            "images/editing/expand",
            ExpandRequest,
            "image",
            (("image", "image"),),
            "Image expansion (outpainting)",
        ),
        Family("videos/text2video", Text2VideoRequest, "video", (), "Text to video"),
        Family(
            "videos/image2video",
            Image2VideoRequest,
            "video",
            (("image", "image"), ("image_tail", "image")),
            "Image to video",
        ),
        Family(
            "videos/multi-image2video",
            MultiImage2VideoRequest,
            "video",
            (("image_list[].image", "image"),),
            "Multi-image to video",
        ),
        Family(
            "videos/multi-elements",
            MultiElementsRequest,
            "video",
            (("image_list[].image", "image"),),
            "Multimodal video editing (multi-elements)",
        ),
        Family("videos/video-extend", VideoExtendRequest, "video", (), "Video extension"),
        Family("videos/lip-sync", LipSyncRequest, "video", (("input.audio_file", "audio"),), "Lip-sync"),
        Family(
            "videos/effects",
            EffectsRequest,
            "video",
            (("input.image", "image"), ("input.images[]", "image")),
            "Video effects",
        ),
        Family(
            "videos/omni-video",
            OmniVideoRequest,
            "video",
            (("image_list[].image_url", "image"), ("video_list[].video_url", "video")),
            "Omni video (kling-video-o1, kling-v3-omni)",
        ),
        Family(
            "videos/motion-control",
            MotionControlRequest,
            "video",
            (("image_url", "image"), ("video_url", "video")),
            "Motion control",
        ),
        Family(
            "videos/avatar/image2video",
            AvatarRequest,
            "video",
            (("image", "image"), ("sound_file", "audio")),
            "Avatar: a photo speaking an audio",
        ),
        Family("audio/text-to-audio", TextToAudioRequest, "audio", (), "Text to audio (sound effects)"),
        Family("audio/video-to-audio", VideoToAudioRequest, "audio", (), "Video to audio"),
        Family(
            "general/advanced-custom-elements",
            ElementRequest,
            "element",
            (
                ("element_image_list.frontal_image", "image"),
                ("element_image_list.refer_images[].image_url", "image"),
                ("element_video_list.refer_videos[].video_url", "video"),
            ),
            "Elements: a character, item or scene from images or a video (advanced)",
        ),
        Family(
            "general/custom-voices",
            VoiceRequest,
            "voice",
            (),  # voice_url may be audio or video: decoded and measured when the task runs
            "Custom voices: a voice from a clip or from a video the gateway made",
        ),
        Family("audio/tts", TtsRequest, "audio", (), "Text to speech (synchronous)", synchronous=True),
        Family(
            "videos/identify-face",
            IdentifyFaceRequest,
            "video",
            (("video_url", "video"),),
            "Identify faces for advanced lip-sync (synchronous)",
            synchronous=True,
        ),
        Family(
            "videos/advanced-lip-sync",
            AdvancedLipSyncRequest,
            "video",
            (("face_choose[].sound_file", "audio"),),
            "Advanced lip-sync: one face of an identify-face session speaks an audio",
        ),
        Family(
            "videos/image-recognize",
            ImageRecognizeRequest,
            "image",
            (("image", "image"),),
            "Image recognition: object, head, face and cloth masks (synchronous)",
            synchronous=True,
        ),
        Family(
            "general/ai-multi-shot",
            AiMultiShotRequest,
            "image",
            (("element_frontal_image", "image"),),
            "AI multi-shot: three sets of side views of a frontal image, for elements",
        ),
    )
}


def iter_inputs(body: dict[str, Any], path: str) -> Iterator[tuple[str, Any]]:
    """Yield ``(concrete_path, value)`` for every value at ``path`` in a request body."""

    def walk(node: Any, parts: list[str], prefix: str) -> Iterator[tuple[str, Any]]:
        if not parts:
            if node not in (None, ""):
                yield prefix, node
            return
        head, rest = parts[0], parts[1:]
        is_list = head.endswith("[]")
        key = head[:-2] if is_list else head
        if not isinstance(node, dict) or key not in node:
            return
        child = node[key]
        here = f"{prefix}.{key}" if prefix else key
        if is_list:
            for i, item in enumerate(child if isinstance(child, list) else []):
                yield from walk(item, rest, f"{here}[{i}]")
        else:
            yield from walk(child, rest, here)

    yield from walk(body, path.split("."), "")


def model_name_of(body: dict[str, Any]) -> str | None:
    """The model a request asks for: ``model_name``, the legacy ``model``, or ``input.model_name``
    (effects). None means the family's default."""
    value = body.get("model_name") or body.get("model")
    if value is None and isinstance(body.get("input"), dict):
        value = body["input"].get("model_name")
    return value if isinstance(value, str) else None
