"""Wire models shared by the server, the client SDK and the tests."""

from .audio import TextToAudioRequest, TtsRequest, VideoToAudioRequest
from .elements import ElementRequest
from .encoding import dumps
from .errors import validation_error
from .faces import AdvancedLipSyncRequest, AiMultiShotRequest, IdentifyFaceRequest, ImageRecognizeRequest
from .families import FAMILIES, Family, iter_inputs, model_name_of
from .image_tools import ExpandRequest, MultiImage2ImageRequest, OmniImageRequest
from .images import ImageGenerationRequest, VirtualTryOnRequest
from .omni import AvatarRequest, MotionControlRequest, OmniVideoRequest
from .selection import InitSelectionRequest, SelectionPointsRequest, SessionRequest
from .tasks import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    CreatedEnvelope,
    CreatedTask,
    Envelope,
    ErrorBody,
    Task,
    TaskEnvelope,
    TaskInfo,
    TaskListEnvelope,
    TaskResult,
    TaskStatus,
)
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

__all__ = [
    "ACTIVE_STATUSES",
    "AdvancedLipSyncRequest",
    "AiMultiShotRequest",
    "IdentifyFaceRequest",
    "ImageRecognizeRequest",
    "AvatarRequest",
    "ElementRequest",
    "VoiceRequest",
    "FAMILIES",
    "TERMINAL_STATUSES",
    "CreatedEnvelope",
    "CreatedTask",
    "EffectsRequest",
    "Envelope",
    "ExpandRequest",
    "ErrorBody",
    "Family",
    "Image2VideoRequest",
    "ImageGenerationRequest",
    "InitSelectionRequest",
    "LipSyncRequest",
    "MotionControlRequest",
    "MultiElementsRequest",
    "MultiImage2ImageRequest",
    "MultiImage2VideoRequest",
    "OmniImageRequest",
    "OmniVideoRequest",
    "SelectionPointsRequest",
    "SessionRequest",
    "Task",
    "TaskEnvelope",
    "TaskInfo",
    "TaskListEnvelope",
    "TaskResult",
    "TaskStatus",
    "Text2VideoRequest",
    "TextToAudioRequest",
    "TtsRequest",
    "VideoExtendRequest",
    "VideoToAudioRequest",
    "VirtualTryOnRequest",
    "dumps",
    "iter_inputs",
    "model_name_of",
    "validation_error",
]
