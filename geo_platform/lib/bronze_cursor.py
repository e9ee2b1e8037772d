"""The bronze sensors' cursor: the state ``bronze.plan_tick`` keeps between ticks, as text."""

from __future__ import annotations

import base64
import json
import zlib


def encode_state(state: dict[str, str]) -> str:
    """Compact cursor text: zlib-compressed JSON, base64 (about 20 bytes per blob)."""
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return "z1:" + base64.b64encode(zlib.compress(raw, 6)).decode()


def decode_state(cursor: str | None) -> dict[str, str]:
    if not cursor:
        return {}
    if not cursor.startswith("z1:"):
        raise ValueError("unknown bronze sensor cursor format")
    data: dict[str, str] = json.loads(zlib.decompress(base64.b64decode(cursor[3:])))
    return data
