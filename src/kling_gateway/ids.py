"""Identifier formats used on the wire (spec §17.3).

Task and video ids are 18-digit numeric strings; request ids are UUIDs.
"""

from __future__ import annotations

import os
import random
import threading
import time

_EPOCH_MS = 1_600_000_000_000
_lock = threading.Lock()
_last_ms = 0
_seq = 0
_node = int.from_bytes(os.urandom(2), "big") & 0x3FF


def new_numeric_id() -> str:
    """An 18-digit, time-ordered, process-unique numeric id (snowflake layout).

    41 bits of milliseconds, 10 bits of random node, 12 bits of sequence. Values for
    the next several decades have exactly 18 digits.
    """
    global _last_ms, _seq
    with _lock:
        now = int(time.time() * 1000)
        if now <= _last_ms:
            _seq = (_seq + 1) & 0xFFF
            if _seq == 0:
                _last_ms += 1
            now = _last_ms
        else:
            _seq = 0
            _last_ms = now
        value = ((now - _EPOCH_MS) << 22) | (_node << 12) | _seq
    text = str(value)
    return text.rjust(18, "1") if len(text) < 18 else text


_rng = random.Random(int.from_bytes(os.urandom(16), "big"))


def new_request_id() -> str:
    """A version-4 UUID from a seeded PRNG: unique for tracing, cheaper than ``uuid4``'s urandom call.

    Request ids are not secrets; nothing is authorised by knowing one."""
    h = "%032x" % ((_rng.getrandbits(128) & _UUID4_CLEAR) | _UUID4_SET)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# the version (4) and variant (RFC 4122) bits of a UUID, as ``uuid.UUID(..., version=4)`` sets them
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def now_ms() -> int:
    return int(time.time() * 1000)
