"""The operator check: only the configured token, only as a Bearer header, never when unset."""

from __future__ import annotations

import pytest

from kling_gateway.admin_access import bearer_token, is_admin


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer s3cret", "s3cret"),
        ("bearer  s3cret ", "s3cret"),
        ("Basic s3cret", None),
        ("Bearer ", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_token(header: str | None, expected: str | None) -> None:
    assert bearer_token(header) == expected


def test_is_admin_only_with_the_configured_token() -> None:
    assert is_admin("Bearer s3cret", "s3cret")
    assert not is_admin("Bearer s3cret2", "s3cret")
    assert not is_admin("Bearer s3cre", "s3cret")
    assert not is_admin("Bearer s3cret", None)
    assert not is_admin("Bearer ", "")
