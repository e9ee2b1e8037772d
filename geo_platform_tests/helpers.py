"""Shared test helpers (paths are relative to the checkout: CI has ../shared beside it)."""

from __future__ import annotations

import io
import zipfile

from geo_platform.settings import REPO_ROOT

TESTDATA = REPO_ROOT.parent / "shared" / "testdata"
SHARED_SCHEMAS = REPO_ROOT.parent / "shared" / "stac-schemas"


def zip_bytes(members: dict[str, bytes]) -> bytes:
    """A zip archive (deflated) of ``members``: {member name: content}."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()
