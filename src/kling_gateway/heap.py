"""The process's heap once a server or worker has started: kept out of the cyclic collector.

What exists once startup is done (the catalogue, the request models and their validators, the
route table, SQLAlchemy's tables and compiled statements, the engines) lives as long as the
process. CPython's full collections walk every tracked object each time, and a busy server runs
one every few seconds: over that startup heap each took tens of milliseconds with the event loop
stopped, the create p99 (about 80 ms, against 10 ms without). :func:`freeze_startup_heap`
collects once and moves everything still alive into the permanent generation, which later
collections skip (CPython's ``gc.freeze``, meant for this); garbage made later is collected as
before. Only process entry points call it (``kling-gateway serve`` and ``worker``): an embedder
or a test process that starts many apps keeps its collector as it is.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect, then freeze what is left; how many objects are frozen now."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
