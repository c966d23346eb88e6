"""Keyset anchors for OFFSET list pages: where a list page of an account and family started,
remembered so a later page seeks there in the list index instead of walking every entry before it.

A list page is ``ORDER BY created_at DESC, id DESC LIMIT n OFFSET o``. An anchor says "the row
at offset ``a`` has sort key ``(created_at, id)``"; the page at offset ``o ≥ a`` is then the rows
with key ≤ that key, ``OFFSET o - a``: the same rows, after a seek and ``o - a`` steps instead of
``o``. An anchor stays true exactly while no task of the account is inserted or deleted, so each
is kept with the account's ``list_version`` (bumped by a trigger with every task row inserted or
deleted, migration v18_list_version) read in the same statement as the row it came from; a page read through
an anchor reads the version again in its own statement and is used only when it is unchanged.
Otherwise the anchors of that list are dropped and the page is read from the head. Statements
see one snapshot on both databases, so the check holds across gateway processes too.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from dataclasses import dataclass, field

ANCHORS_PER_LIST = 64  # page starts kept per (account, family)
LISTS_KEPT = 1024  # (account, family) lists with anchors, least recently used dropped

Key = tuple[int, str]  # (created_at, id) of the row at an anchor's offset


@dataclass
class _List:
    version: int
    offsets: list[int] = field(default_factory=list)  # sorted
    keys: dict[int, Key] = field(default_factory=dict)  # offset -> key, oldest learned first


@dataclass(frozen=True)
class Anchor:
    version: int  # the account's list_version the anchor was seen at
    offset: int
    key: Key


class ListAnchors:
    """The anchors this process has seen, per (account id, family)."""

    def __init__(self, per_list: int = ANCHORS_PER_LIST, lists: int = LISTS_KEPT):
        self.per_list = per_list
        self.lists = lists
        self._lists: OrderedDict[tuple[str, str], _List] = OrderedDict()

    def nearest(self, account_id: str, family: str, offset: int) -> Anchor | None:
        """The anchor at the largest offset ≤ ``offset`` (offset 0: none needed, None)."""
        found = self._lists.get((account_id, family))
        if found is None or offset == 0:
            return None
        at = bisect.bisect_right(found.offsets, offset) - 1
        if at < 0:
            return None
        self._lists.move_to_end((account_id, family))
        start = found.offsets[at]
        return Anchor(found.version, start, found.keys[start])

    def learn(self, account_id: str, family: str, version: int, offset: int, key: Key) -> None:
        """The row at ``offset`` has ``key`` at ``version`` (read in one statement). A newer
        version drops the anchors of the older one; an older one is ignored."""
        if offset == 0:
            return
        name = (account_id, family)
        found = self._lists.get(name)
        if found is None or found.version < version:
            found = self._lists[name] = _List(version)
            while len(self._lists) > self.lists:
                self._lists.popitem(last=False)
        elif found.version > version:
            return
        self._lists.move_to_end(name)
        if offset not in found.keys:
            bisect.insort(found.offsets, offset)
            if len(found.offsets) > self.per_list:
                oldest = next(iter(found.keys))
                del found.keys[oldest]
                found.offsets.remove(oldest)
        found.keys[offset] = key

    def forget(self, account_id: str, family: str, version: int) -> None:
        """An anchored read saw ``version``, newer than its anchor's: drop the list's anchors."""
        found = self._lists.get((account_id, family))
        if found is not None and found.version < version:
            del self._lists[(account_id, family)]
