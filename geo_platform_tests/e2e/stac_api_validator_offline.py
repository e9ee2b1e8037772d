"""Run stac-api-validator with the STAC JSON schemas read from the project's vendored copies.

``python -m geo_platform_tests.e2e.stac_api_validator_offline <stac-api-validator options>``

Why: stac-validator (which stac-api-validator runs on every collection and item) downloads the
JSON schemas from schemas.stacspec.org and stac-extensions.github.io, and machines here have no
internet access. stac-validator already maps some schema URLs to local files through
``utilities._map_extension_url_to_local``; this runner extends that one hook with the URL ->
file index of ``geo_platform/lib/stac/schemas`` (the same schemas the platform validates its
items against before publishing). Everything else is the validator as installed: its checks,
its requests to the API, its report and its exit code.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from geo_platform.lib.stac import validate


def _index() -> dict[str, str]:
    folder = Path(validate.__file__).parent / "schemas"
    index: dict[str, str] = json.loads((folder / "index.json").read_text())
    index.update(json.loads((folder / "index-extra.json").read_text()))
    return {url: str(folder / rel) for url, rel in index.items()}


def _offline(original: Callable[[str], str], index: dict[str, str]) -> Callable[[str], str]:
    def to_local(url: str) -> str:
        local = index.get(url) or index.get(url.split("#", 1)[0])
        return local if local else original(url)

    return to_local


def main() -> None:
    from stac_validator import utilities

    utilities._map_extension_url_to_local = _offline(  # type: ignore[attr-defined]
        utilities._map_extension_url_to_local,  # type: ignore[attr-defined]
        _index(),
    )
    from stac_api_validator.__main__ import main as validator

    sys.exit(validator())


if __name__ == "__main__":
    main()
