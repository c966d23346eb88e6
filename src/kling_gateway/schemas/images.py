"""Request bodies of the image task families (spec §8.11–8.12)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, model_validator

from .common import IMAGE_ASPECT_RATIOS, PROMPT_MAX, CommonTaskFields, ElementRef, one_of
from .model_limits import catalog_of, default_model, left_to_server, models_of

GENERATIONS = "images/generations"
TRY_ON_MODELS = ("kolors-virtual-try-on-v1", "kolors-virtual-try-on-v1-5")
MAX_GENERATION_REFERENCES = 10  # spec more §8: images + elements ≤ 10
# Fields a model takes only when its catalogue offer lists them in ``contents`` (§8: kling-v2-1;
# the gateway keeps the older models' own rules, see docs/api.md).
REFERENCE_FIELDS = ("image_reference", "image_fidelity", "human_fidelity")


class ImageGenerationRequest(CommonTaskFields):
    """``images/generations``. Models, resolutions and which reference fields a model takes come
    from the catalogue's ``images/generations`` offers (default ``kling-v3``, Image 3.0)."""

    model_name: str | None = None
    model: str | None = None
    prompt: str = Field(min_length=1, max_length=PROMPT_MAX)
    negative_prompt: str | None = Field(default=None, max_length=PROMPT_MAX)
    image: str | None = None
    element_list: list[ElementRef] | None = None
    image_reference: Literal["subject", "face"] | None = None
    image_fidelity: float | None = Field(default=None, ge=0, le=1)
    human_fidelity: float | None = Field(default=None, ge=0, le=1)
    resolution: Literal["1k", "2k"] | None = None
    n: int | None = Field(default=None, ge=1, le=9)
    aspect_ratio: str | None = None

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> ImageGenerationRequest:
        one_of(self.aspect_ratio, IMAGE_ASPECT_RATIOS, name="aspect_ratio")
        if not left_to_server(info, GENERATIONS, self.model_name):
            self._model_rules(info)
        if self.image_reference is not None and not self.image:
            raise ValueError("image_reference: needs image")
        if self.human_fidelity is not None and self.image_reference != "subject":
            raise ValueError("human_fidelity: is only used with image_reference 'subject'")
        elements = len(self.element_list or [])
        if elements + (1 if self.image else 0) > MAX_GENERATION_REFERENCES:
            raise ValueError(
                f"image/element_list: images + elements ≤ {MAX_GENERATION_REFERENCES} "
                f"(got {elements + (1 if self.image else 0)})"
            )
        if self.image and self.negative_prompt:
            raise ValueError("negative_prompt is not supported for image-to-image")
        return self

    def _model_rules(self, info: ValidationInfo) -> None:
        """Model, resolution, reference fields and element count as the catalogue's offer allows."""
        catalog = catalog_of(info)
        one_of(self.model_name, models_of(GENERATIONS, catalog), name="model_name")
        model = self.model_name or default_model(GENERATIONS, catalog)
        served = catalog.offer(GENERATIONS, model)
        offer = served.offer if served is not None else None
        contents = offer.contents if offer is not None else {}
        if self.aspect_ratio == "21:9" and model == "kling-v1":
            raise ValueError("aspect_ratio 21:9 is not available for kling-v1")
        resolutions = offer.resolutions if offer is not None and offer.resolutions else ("1k",)
        if self.resolution is not None and self.resolution not in resolutions:
            raise ValueError(f"resolution: {model} takes {', '.join(resolutions)} (got {self.resolution})")
        for name in REFERENCE_FIELDS:
            if getattr(self, name) is not None and name not in contents:
                takers = [
                    s.wire_id for s in catalog.for_family(GENERATIONS, "legacy") if name in s.offer.contents
                ]
                raise ValueError(f"{name}: is only supported by {', '.join(takers)} (got {model})")
        elements = len(self.element_list or [])
        if elements and elements > contents.get("element", 0):
            cap = contents.get("element", 0)
            takes = f"at most {cap} element(s)" if cap else "no elements"
            raise ValueError(f"element_list: {model} takes {takes} (got {elements})")
        if model == "kling-v2-new" and not self.image:
            raise ValueError("kling-v2-new is image-to-image only and needs image")


class VirtualTryOnRequest(CommonTaskFields):
    model_name: str | None = None
    human_image: str = Field(min_length=1)
    cloth_image: str = Field(min_length=1)

    @model_validator(mode="after")
    def _rules(self) -> VirtualTryOnRequest:
        one_of(self.model_name, TRY_ON_MODELS, name="model_name")
        return self
