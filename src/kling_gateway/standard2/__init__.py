"""Kling's new API standard ("API 2.0", spec kling-api-more.md §1–6): model in the path,
``prompt``/``contents[]`` + ``settings{}`` + ``options{}`` bodies, one ``/tasks`` query, typed
``outputs[]`` and ``billing[]``.

A new-standard task is an ordinary task row whose family is ``v2/<product>``; this package holds
what differs: the per-model rules (from the catalogue), the record view of any row, billing.
"""

from .products import FAMILY_PREFIX, PRODUCTS, Product, is_standard2, product_of

__all__ = ["FAMILY_PREFIX", "PRODUCTS", "Product", "is_standard2", "product_of"]
