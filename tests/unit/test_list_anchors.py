"""The list anchors' bookkeeping (store/anchors.py): nearest page start below an offset, only at
the newest version seen, bounded per list and in lists."""

from __future__ import annotations

from kling_gateway.store.anchors import ListAnchors


def test_nearest_anchor_is_the_largest_offset_not_past_the_page() -> None:
    anchors = ListAnchors()
    anchors.learn("a", "f", 3, 60, (10, "x"))
    anchors.learn("a", "f", 3, 30, (20, "y"))
    assert anchors.nearest("a", "f", 29) is None
    found = anchors.nearest("a", "f", 59)
    assert found is not None and (found.version, found.offset, found.key) == (3, 30, (20, "y"))
    found = anchors.nearest("a", "f", 90)
    assert found is not None and found.offset == 60
    assert anchors.nearest("a", "g", 90) is None and anchors.nearest("b", "f", 90) is None
    anchors.learn("a", "f", 3, 0, (30, "z"))  # offset 0 needs no anchor
    assert anchors.nearest("a", "f", 0) is None


def test_a_newer_version_drops_the_older_anchors_and_an_older_one_is_ignored() -> None:
    anchors = ListAnchors()
    anchors.learn("a", "f", 3, 30, (20, "y"))
    anchors.learn("a", "f", 4, 60, (10, "x"))
    assert anchors.nearest("a", "f", 59) is None  # the version-3 anchor went
    anchors.learn("a", "f", 3, 30, (20, "y"))  # a late reader of the old version
    assert anchors.nearest("a", "f", 59) is None
    anchors.forget("a", "f", 4)  # not newer: kept
    assert anchors.nearest("a", "f", 60) is not None
    anchors.forget("a", "f", 5)
    assert anchors.nearest("a", "f", 60) is None


def test_anchors_are_bounded_per_list_and_in_lists() -> None:
    anchors = ListAnchors(per_list=2, lists=2)
    for offset in (30, 60, 90):
        anchors.learn("a", "f", 1, offset, (offset, "k"))
    found = anchors.nearest("a", "f", 89)
    assert found is not None and found.offset == 60  # 30, learned first, went
    assert anchors.nearest("a", "f", 59) is None
    anchors.learn("b", "f", 1, 30, (1, "k"))
    anchors.learn("c", "f", 1, 30, (1, "k"))  # "a" least recently used
    assert anchors.nearest("a", "f", 90) is None
    assert anchors.nearest("b", "f", 30) is not None and anchors.nearest("c", "f", 30) is not None
