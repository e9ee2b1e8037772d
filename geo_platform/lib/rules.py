"""Per-prefix processing rules: which options a bronze file gets, by where it was dropped.

Rules are a JSON object mapping a bronze path prefix to options, e.g.
``{"rasters/dem/": {"tiers": ["analysis", "archive"]}, "rasters/web/": {"web_optimized": true}}``.
All matching prefixes apply, shortest first, so a longer (more specific) prefix wins; run config
applies last.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from geo_platform.lib.errors import ConfigError


def parse_rules(text: str, name: str = "rules") -> dict[str, dict[str, Any]]:
    if not text.strip():
        return {}
    try:
        rules = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name} is not valid JSON: {exc}") from exc
    if not isinstance(rules, dict) or not all(isinstance(v, dict) for v in rules.values()):
        raise ConfigError(f"{name} must be a JSON object of prefix -> options object")
    return rules


def options_for(
    blob: str, rules: Mapping[str, Mapping[str, Any]], overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Merge the options of every rule matching ``blob`` (longest prefix last), then overrides."""
    merged: dict[str, Any] = {}
    for prefix in sorted((p for p in rules if blob.startswith(p)), key=len):
        merged.update(rules[prefix])
    merged.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return merged
