"""One typed method per task family, shared by the sync and async clients.

Each takes the family's request model (or a mapping) and/or keyword fields, validated
client-side through that model. The sync client returns :class:`CreatedTask`; the async one a
coroutine of it (the type parameter ``R``). Synchronous families (``audio/tts``) return the
finished :class:`Task` (type parameter ``S``): tts, identify-face, image-recognize.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from ..schemas import (
    AdvancedLipSyncRequest,
    AiMultiShotRequest,
    AvatarRequest,
    EffectsRequest,
    ElementRequest,
    ExpandRequest,
    IdentifyFaceRequest,
    Image2VideoRequest,
    ImageGenerationRequest,
    ImageRecognizeRequest,
    LipSyncRequest,
    MotionControlRequest,
    MultiElementsRequest,
    MultiImage2ImageRequest,
    MultiImage2VideoRequest,
    OmniImageRequest,
    OmniVideoRequest,
    Text2VideoRequest,
    TextToAudioRequest,
    TtsRequest,
    VideoExtendRequest,
    VideoToAudioRequest,
    VirtualTryOnRequest,
    VoiceRequest,
)

R = TypeVar("R")
S = TypeVar("S")


class FamilyMethods(Generic[R, S]):
    def _create(self, family: str, request: Any, fields: dict[str, Any]) -> R:
        raise NotImplementedError

    def _run_sync(self, family: str, request: Any, fields: dict[str, Any]) -> S:
        raise NotImplementedError

    def create_element(
        self, request: ElementRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> R:
        """``general/advanced-custom-elements``: an element from images or a video (spec more §7.7);
        the finished task's ``task_result.elements[0].element_id`` goes into ``element_list``."""
        return self._create("general/advanced-custom-elements", request, fields)

    def create_voice(self, request: VoiceRequest | Mapping[str, Any] | None = None, /, **fields: Any) -> R:
        """``general/custom-voices``: a voice from ``voice_url`` (5–30 s) or a ``video_id`` with
        sound (spec more §7.6); the finished task's ``task_result.voices[0].voice_id`` goes into
        ``voice_list`` and ``element_voice_id``."""
        return self._create("general/custom-voices", request, fields)

    def omni_image(self, request: OmniImageRequest | Mapping[str, Any] | None = None, /, **fields: Any) -> R:
        """``images/omni-image``: single images (``n``) or a ``series`` (spec more §7.9)."""
        return self._create("images/omni-image", request, fields)

    def multi_image2image(
        self, request: MultiImage2ImageRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> R:
        """``images/multi-image2image``: subjects on a scene, in a style (spec more §7.9)."""
        return self._create("images/multi-image2image", request, fields)

    def expand_image(self, request: ExpandRequest | Mapping[str, Any] | None = None, /, **fields: Any) -> R:
        """``images/editing/expand``: grow ``image`` by the four ``*_expansion_ratio`` (spec more §7.9)."""
        return self._create("images/editing/expand", request, fields)

    def omni_video(self, request: OmniVideoRequest | Mapping[str, Any] | None = None, /, **fields: Any) -> R:
        """``videos/omni-video``: images, elements, a feature or base video, multi-shot (spec more §7.1)."""
        return self._create("videos/omni-video", request, fields)

    def motion_control(
        self, request: MotionControlRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> R:
        """``videos/motion-control``: ``image_url`` moved like ``video_url`` (spec more §7.2)."""
        return self._create("videos/motion-control", request, fields)

    def avatar(self, request: AvatarRequest | Mapping[str, Any] | None = None, /, **fields: Any) -> R:
        """``videos/avatar/image2video``: ``image`` speaking ``audio_id`` (a :meth:`tts` result's
        task id) or ``sound_file``; as long as the audio (spec more §7.3)."""
        return self._create("videos/avatar/image2video", request, fields)

    def tts(self, request: TtsRequest | Mapping[str, Any] | None = None, /, **fields: Any) -> S:
        """``audio/tts`` (synchronous): the finished task, its mp3 in ``task_result.audios``; the
        audio's id is an ``audio_id`` for avatar and advanced lip-sync (spec more §7.5)."""
        return self._run_sync("audio/tts", request, fields)

    def identify_face(
        self, request: IdentifyFaceRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> S:
        """``videos/identify-face`` (synchronous): the faces of ``video_id`` or ``video_url``;
        ``task_result.session_id`` and ``face_data[].face_id`` go to :meth:`advanced_lip_sync`
        (spec §8.6.2)."""
        return self._run_sync("videos/identify-face", request, fields)

    def advanced_lip_sync(
        self, request: AdvancedLipSyncRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> R:
        """``videos/advanced-lip-sync``: one face of a session speaks an ``audio_id`` or
        ``sound_file`` clip, inserted at ``sound_insert_time`` (spec §8.6.3)."""
        return self._create("videos/advanced-lip-sync", request, fields)

    def image_recognize(
        self, request: ImageRecognizeRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> S:
        """``videos/image-recognize`` (synchronous): object, head, face and cloth masks of
        ``image`` (spec more §7.8)."""
        return self._run_sync("videos/image-recognize", request, fields)

    def ai_multi_shot(
        self, request: AiMultiShotRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> R:
        """``general/ai-multi-shot``: three sets of side views of ``element_frontal_image``, for
        an element's ``refer_images`` (spec more §7.9)."""
        return self._create("general/ai-multi-shot", request, fields)

    def image_generation(
        self, request: ImageGenerationRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> R:
        """``images/generations``: text to image, or image to image with ``image`` (spec §8.11)."""
        return self._create("images/generations", request, fields)

    def virtual_try_on(
        self, request: VirtualTryOnRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> R:
        """``images/kolors-virtual-try-on``: ``human_image`` wearing ``cloth_image`` (spec §8.12)."""
        return self._create("images/kolors-virtual-try-on", request, fields)

    def text2video(self, request: Text2VideoRequest | Mapping[str, Any] | None = None, /, **fields: Any) -> R:
        """``videos/text2video`` (spec §8.1)."""
        return self._create("videos/text2video", request, fields)

    def image2video(
        self, request: Image2VideoRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> R:
        """``videos/image2video``: ``image`` and/or ``image_tail`` (spec §8.2)."""
        return self._create("videos/image2video", request, fields)

    def multi_image2video(
        self, request: MultiImage2VideoRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> R:
        """``videos/multi-image2video``: ``image_list=[{"image": ...}, ...]`` (spec §8.3)."""
        return self._create("videos/multi-image2video", request, fields)

    def multi_elements(
        self, request: MultiElementsRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> R:
        """``videos/multi-elements``: edit a selection session's video (spec §8.4 step 6)."""
        return self._create("videos/multi-elements", request, fields)

    def video_extend(
        self, request: VideoExtendRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> R:
        """``videos/video-extend``: continue the video ``video_id`` (spec §8.5)."""
        return self._create("videos/video-extend", request, fields)

    def lip_sync(self, request: LipSyncRequest | Mapping[str, Any] | None = None, /, **fields: Any) -> R:
        """``videos/lip-sync``: ``input={...}`` with text+voice or audio (spec §8.6.1)."""
        return self._create("videos/lip-sync", request, fields)

    def effects(self, request: EffectsRequest | Mapping[str, Any] | None = None, /, **fields: Any) -> R:
        """``videos/effects``: ``effect_scene`` and ``input={image | images}`` (spec §8.7)."""
        return self._create("videos/effects", request, fields)

    def text_to_audio(
        self, request: TextToAudioRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> R:
        """``audio/text-to-audio``: sound effects from ``prompt`` (spec §8.14)."""
        return self._create("audio/text-to-audio", request, fields)

    def video_to_audio(
        self, request: VideoToAudioRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> R:
        """``audio/video-to-audio``: a soundtrack for ``video_id`` or ``video_url`` (spec §8.15)."""
        return self._create("audio/video-to-audio", request, fields)
