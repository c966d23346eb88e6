"""Request bodies of the advanced elements API (spec more §7.7)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .common import CommonTaskFields, WireModel

ELEMENTS = "general/advanced-custom-elements"
TAG_IDS = ("o_101", "o_102", "o_103", "o_104", "o_105", "o_106", "o_107", "o_108")


class ReferImage(WireModel):
    image_url: str = Field(min_length=1)


class ElementImageList(WireModel):
    frontal_image: str = Field(min_length=1)
    refer_images: list[ReferImage] = Field(min_length=1, max_length=3)


class ReferVideo(WireModel):
    video_url: str = Field(min_length=1)


class ElementVideoList(WireModel):
    refer_videos: list[ReferVideo] = Field(min_length=1, max_length=1)


class ElementTag(WireModel):
    tag_id: Literal["o_101", "o_102", "o_103", "o_104", "o_105", "o_106", "o_107", "o_108"]


class ElementRequest(CommonTaskFields):
    element_name: str = Field(min_length=1, max_length=20)
    element_description: str = Field(min_length=1, max_length=100)
    reference_type: Literal["image_refer", "video_refer"]
    element_image_list: ElementImageList | None = None
    element_video_list: ElementVideoList | None = None
    element_voice_id: str | None = None
    tag_list: list[ElementTag] | None = None

    @model_validator(mode="after")
    def _refs_match_type(self) -> ElementRequest:
        if self.reference_type == "image_refer" and self.element_image_list is None:
            raise ValueError("element_image_list: required when reference_type is image_refer")
        if self.reference_type == "video_refer" and self.element_video_list is None:
            raise ValueError("element_video_list: required when reference_type is video_refer")
        return self


class DeleteElementRequest(WireModel):
    element_id: int | str
