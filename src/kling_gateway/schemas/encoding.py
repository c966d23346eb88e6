"""The one JSON encoding of wire bodies (responses, callbacks, event streams): compact, UTF-8."""

from __future__ import annotations

import json

dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
