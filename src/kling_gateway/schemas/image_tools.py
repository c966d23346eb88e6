"""Request bodies of omni-image, multi-image2image and expand (spec more §7.9)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, model_validator

from .common import IMAGE_ASPECT_RATIOS, PROMPT_MAX, CommonTaskFields, ElementRef, WireModel, one_of
from .model_limits import catalog_of, default_model, left_to_server, models_of

OMNI_IMAGE = "images/omni-image"
MULTI_IMAGE = "images/multi-image2image"
SERIES_MODELS = ("kling-v3-omni",)  # result_type "series" (the catalogue has no field for it)
MAX_EXPANDED_AREA = 3.0  # the new canvas is at most 3× the original's area


class ImageRef(WireModel):
    image: str = Field(min_length=1)


class OmniImageRequest(CommonTaskFields):
    model_name: str | None = None
    prompt: str = Field(min_length=1, max_length=PROMPT_MAX)
    image_list: list[ImageRef] | None = None
    element_list: list[ElementRef] | None = None
    resolution: str | None = None
    result_type: Literal["single", "series"] | None = None
    n: int | None = Field(default=None, ge=1, le=9)
    series_amount: int | Literal["auto"] | None = None
    aspect_ratio: str | None = None

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> OmniImageRequest:
        catalog = catalog_of(info)
        deferred = left_to_server(info, OMNI_IMAGE, self.model_name)  # an operator's model
        model = self.model_name or default_model(OMNI_IMAGE, catalog)
        if not deferred:
            one_of(self.model_name, models_of(OMNI_IMAGE, catalog), name="model_name")
            served = catalog.offer(OMNI_IMAGE, model)
            one_of(self.resolution, served.offer.resolutions if served else (), name="resolution")
        one_of(self.aspect_ratio, (*IMAGE_ASPECT_RATIOS, "auto"), name="aspect_ratio")
        images, elements = len(self.image_list or []), len(self.element_list or [])
        if images + elements > 10:
            raise ValueError(f"image_list/element_list: images + elements ≤ 10 (got {images + elements})")
        if self.result_type == "series" and model not in SERIES_MODELS:
            raise ValueError(f"result_type: 'series' needs model_name {', '.join(SERIES_MODELS)}")
        amount = self.series_amount
        if isinstance(amount, int) and not 2 <= amount <= 9:
            raise ValueError("series_amount: must be 2–9 or 'auto'")
        if model in SERIES_MODELS and not images and (self.aspect_ratio or "auto") == "auto":
            raise ValueError(f"aspect_ratio: 'auto' needs a reference image on {model}")
        return self


class SubjectImage(WireModel):
    subject_image: str = Field(min_length=1)


class MultiImage2ImageRequest(CommonTaskFields):
    model_name: str | None = None
    prompt: str | None = Field(default=None, max_length=PROMPT_MAX)
    subject_image_list: list[SubjectImage] = Field(min_length=1, max_length=4)
    scene_image: str | None = None
    style_image: str | None = None
    n: int | None = Field(default=None, ge=1, le=9)
    aspect_ratio: str | None = None

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> MultiImage2ImageRequest:
        if not left_to_server(info, MULTI_IMAGE, self.model_name):
            one_of(self.model_name, models_of(MULTI_IMAGE, catalog_of(info)), name="model_name")
        one_of(self.aspect_ratio, IMAGE_ASPECT_RATIOS, name="aspect_ratio")
        return self


Ratio = Field(ge=0, le=2, json_schema_extra={"x-allowed": "0–2, a share of the original side"})


class ExpandRequest(CommonTaskFields):
    image: str = Field(min_length=1)
    up_expansion_ratio: float = Ratio
    down_expansion_ratio: float = Ratio
    left_expansion_ratio: float = Ratio
    right_expansion_ratio: float = Ratio
    prompt: str | None = Field(default=None, max_length=PROMPT_MAX)
    n: int | None = Field(default=None, ge=1, le=9)

    @model_validator(mode="after")
    def _rules(self) -> ExpandRequest:
        area = (1 + self.left_expansion_ratio + self.right_expansion_ratio) * (
            1 + self.up_expansion_ratio + self.down_expansion_ratio
        )
        if area > MAX_EXPANDED_AREA + 1e-9:
            raise ValueError(
                f"up_/down_/left_/right_expansion_ratio: the new canvas would be {area:.2f}× the "
                f"original area (at most {MAX_EXPANDED_AREA:g}×)"
            )
        return self
