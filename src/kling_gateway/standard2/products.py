"""The four new-standard products and their task family names (``v2/<product>``)."""

from __future__ import annotations

from dataclasses import dataclass

FAMILY_PREFIX = "v2/"


@dataclass(frozen=True)
class Product:
    name: str  # path segment: "text-to-video"
    summary: str
    product_type: str = "video"  # POST /tasks filter value (§5.2)

    @property
    def family(self) -> str:
        return FAMILY_PREFIX + self.name

    @property
    def takes_prompt(self) -> bool:
        """text-to-video takes a top-level ``prompt``; the others take ``contents[]`` (§3.1)."""
        return self.name == "text-to-video"


PRODUCTS: dict[str, Product] = {
    p.name: p
    for p in (
        Product("text-to-video", "Text to video"),
        Product("image-to-video", "Image to video"),
        Product("omni-video", "Omni video"),
        Product("motion-control", "Motion control"),
    )
}


def is_standard2(family: str) -> bool:
    return family.startswith(FAMILY_PREFIX)


def product_of(family: str) -> Product | None:
    return PRODUCTS.get(family[len(FAMILY_PREFIX) :]) if is_standard2(family) else None


def product_type_of(family: str) -> str:
    """``video``, ``image`` or ``try_on`` for any family (the ``product_type`` filter)."""
    product = product_of(family)
    if product is not None:
        return product.product_type
    if family == "images/kolors-virtual-try-on":
        return "try_on"
    if family.startswith("images/"):
        return "image"
    return "video" if family.startswith("videos/") else "audio"
