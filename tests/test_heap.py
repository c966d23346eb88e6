"""``freeze_startup_heap`` (heap.py): garbage left from startup is collected, what lives on is
frozen, and garbage made later is still collected. Run in a child process: freezing the test
process's heap would keep every later test's cycles from the collector."""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = """
import gc, json, weakref
from kling_gateway.heap import freeze_startup_heap

class Node:
    pass

def cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)

kept = Node()
kept.self = kept  # alive, in a cycle: frozen
before = cycle()  # garbage made during startup
frozen = freeze_startup_heap()
after = cycle()  # garbage made once the server runs
before_gone = before() is None
gc.collect()
print(json.dumps({"frozen": frozen, "count": gc.get_freeze_count(), "before_gone": before_gone,
                  "after_gone": after() is None}))
"""


def test_startup_garbage_is_collected_the_rest_frozen_and_later_garbage_still_collected() -> None:
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True).stdout
    seen = json.loads(out)
    assert seen["before_gone"], seen  # collected before the freeze, not frozen with the rest
    assert seen["frozen"] == seen["count"] > 1000, seen  # the interpreter's own objects and ours
    assert seen["after_gone"], seen  # the collector still runs for what comes later
