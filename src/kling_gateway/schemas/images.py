"""Request bodies of the image task families (spec §8.11–8.12)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .common import IMAGE_ASPECT_RATIOS, PROMPT_MAX, CommonTaskFields, one_of

IMAGE_MODELS = ("kling-v1", "kling-v1-5", "kling-v2", "kling-v2-new", "kling-v2-1")
TRY_ON_MODELS = ("kolors-virtual-try-on-v1", "kolors-virtual-try-on-v1-5")


class ImageGenerationRequest(CommonTaskFields):
    model_name: str | None = None
    model: str | None = None
    prompt: str = Field(min_length=1, max_length=PROMPT_MAX)
    negative_prompt: str | None = Field(default=None, max_length=PROMPT_MAX)
    image: str | None = None
    image_reference: Literal["subject", "face"] | None = None
    image_fidelity: float | None = Field(default=None, ge=0, le=1)
    human_fidelity: float | None = Field(default=None, ge=0, le=1)
    resolution: Literal["1k", "2k"] | None = None
    n: int | None = Field(default=None, ge=1, le=9)
    aspect_ratio: str | None = None

    @property
    def effective_model(self) -> str:
        return self.model_name or "kling-v1"

    @model_validator(mode="after")
    def _rules(self) -> ImageGenerationRequest:
        one_of(self.model_name, IMAGE_MODELS, name="model_name")
        one_of(self.aspect_ratio, IMAGE_ASPECT_RATIOS, name="aspect_ratio")
        model = self.effective_model
        if self.aspect_ratio == "21:9" and model == "kling-v1":
            raise ValueError("aspect_ratio 21:9 is not available for kling-v1")
        if self.resolution == "2k" and not model.startswith("kling-v2"):
            raise ValueError(f"resolution 2k needs a kling-v2 model (got {model})")
        if self.image_reference is not None:
            if model != "kling-v1-5":
                raise ValueError("image_reference is only supported by kling-v1-5")
            if not self.image:
                raise ValueError("image_reference needs image")
        if self.human_fidelity is not None and self.image_reference != "subject":
            raise ValueError("human_fidelity is only used with image_reference 'subject'")
        if model == "kling-v2-new" and not self.image:
            raise ValueError("kling-v2-new is image-to-image only and needs image")
        if self.image and self.negative_prompt:
            raise ValueError("negative_prompt is not supported for image-to-image")
        return self


class VirtualTryOnRequest(CommonTaskFields):
    model_name: str | None = None
    human_image: str = Field(min_length=1)
    cloth_image: str = Field(min_length=1)

    @model_validator(mode="after")
    def _rules(self) -> VirtualTryOnRequest:
        one_of(self.model_name, TRY_ON_MODELS, name="model_name")
        return self
