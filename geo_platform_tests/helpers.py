"""Shared test helpers (paths are relative to the checkout: CI has ../shared beside it)."""

from __future__ import annotations

from geo_platform.settings import REPO_ROOT

TESTDATA = REPO_ROOT.parent / "shared" / "testdata"
SHARED_SCHEMAS = REPO_ROOT.parent / "shared" / "stac-schemas"
