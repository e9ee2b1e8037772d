"""Offline STAC validation against the official JSON schemas shipped with the package.

The schemas in ``schemas/`` are byte-identical copies of ``shared/stac-schemas`` (a test checks
that); ``schemas/index.json`` maps every canonical schema URL to its file, so core schemas and
every ``stac_extensions`` entry resolve without network access. Schemas the shared set lacks
(the render extension, copied from stac-extensions/render at its v2.0.0 tag, and the datacube
extension, from stac-extensions/datacube at v2.3.0) are listed in ``schemas/index-extra.json``.

Two validators, one verdict: each schema is compiled once with fastjsonschema (generated Python
code, about 0.5 ms per raster item against 7 ms for jsonschema), which accepts the valid objects
that make up nearly all traffic. Whenever it rejects one, or cannot compile a schema, jsonschema
decides and writes the error messages, so jsonschema stays the reference: an object is invalid
only if jsonschema says so. A schema that refers to a document outside the vendored set (the
PROJJSON schema behind ``proj:projjson``) leaves that part unchecked in the fast path.

Generating and compiling those validators costs about 0.2 s per process (the item schema alone
is 300k characters of Python), paid again by every CLI call and every Dagster run worker. The
compiled code is therefore cached on disk (``marshal``, as Python caches ``.pyc`` files), keyed
by a digest of every vendored schema, the fastjsonschema version and the Python version, in
``GEO_PLATFORM_CACHE_DIR`` (default ``$XDG_CACHE_HOME/geo_platform``, else
``~/.cache/geo_platform``; ``off`` disables it). An unreadable, stale or corrupt entry is
regenerated; an unwritable cache directory only costs the time it would have saved.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import os
import secrets
import sys
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema
from fastjsonschema.ref_resolver import RefResolver
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from geo_platform.lib.errors import ValidationError

SCHEMA_DIR = Path(__file__).parent / "schemas"


@cache
def _schemas() -> dict[str, Any]:
    """Every vendored schema document by canonical URL."""
    index: dict[str, str] = json.loads((SCHEMA_DIR / "index.json").read_text())
    index.update(json.loads((SCHEMA_DIR / "index-extra.json").read_text()))
    return {url: json.loads((SCHEMA_DIR / rel).read_text()) for url, rel in index.items()}


@cache
def _registry() -> tuple[Registry, dict[str, Any]]:
    by_url = _schemas()
    resources = []
    for url, doc in by_url.items():
        resources.append((url, Resource.from_contents(doc, default_specification=DRAFT7)))
        # Some schemas declare an $id that differs from the URL others use: register both.
        sid = doc.get("$id") if isinstance(doc, dict) else None
        if sid and sid != url:
            resources.append((sid, Resource.from_contents(doc, default_specification=DRAFT7)))
    return Registry().with_resources(resources), by_url


@cache
def _validator(url: str) -> Any:
    """A compiled validator per schema URL (building one is much of the cost of validating)."""
    registry, by_url = _registry()
    schema = by_url.get(url)
    if schema is None:
        return None
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    return cls(schema, registry=registry)


@cache
def _fast_validator(url: str) -> Any:
    """fastjsonschema's compiled validator for ``url``, or None (jsonschema then decides)."""
    cached = _cache_path(url)
    if cached is not None:
        try:
            code, name = marshal.loads(cached.read_bytes())
            return _function(code, name)
        except Exception:  # missing, stale, corrupt: generate it again
            pass
    by_url = _schemas()
    schema = by_url.get(url)
    if schema is None:
        return None

    def offline(uri: str) -> Any:
        return by_url.get(uri, {})  # not vendored: not checked here (jsonschema may still)

    handlers = {"https": offline, "http": offline}
    try:
        source = fastjsonschema.compile_to_code(schema, handlers=handlers, use_default=False)
        name = RefResolver.from_schema(schema, handlers=handlers, store={}).get_scope_name()
        # The globals fastjsonschema.compile() provides, some of which its generated module
        # code can lack (a schema using the "regex" format loses the Decimal import).
        source = "from decimal import Decimal\nimport re\n" + source
        code = compile(source, f"<fastjsonschema {url}>", "exec")
        func = _function(code, name)
    except Exception:  # a construct fastjsonschema cannot compile: jsonschema only
        return None
    if cached is not None:
        _write_atomically(cached, marshal.dumps((code, name)))
    return func


def _function(code: Any, name: str) -> Any:
    """Run the generated module code; its validating function is ``name``."""
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # code generated by fastjsonschema from the vendored schemas
    return namespace[name]


def _cache_path(url: str) -> Path | None:
    root = os.environ.get("GEO_PLATFORM_CACHE_DIR", "")
    if root == "off":
        return None
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        root = str(Path(xdg) / "geo_platform") if xdg else "~/.cache/geo_platform"
    key = hashlib.sha256(f"{_schema_digest()}|{url}".encode()).hexdigest()[:32]
    return Path(root).expanduser() / "stac-validators" / f"{key}.marshal"


@cache
def _schema_digest() -> str:
    """What a cached validator depends on: every vendored schema file, the generator's and the
    interpreter's versions (marshal's format is Python's own)."""
    h = hashlib.sha256(f"{fastjsonschema.VERSION}|{sys.version}".encode())
    for path in sorted(SCHEMA_DIR.rglob("*.json")):
        h.update(path.relative_to(SCHEMA_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _write_atomically(path: Path, data: bytes) -> None:
    """Best effort: a cache that cannot be written only costs time."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):  # the directory may not exist either
            tmp.unlink(missing_ok=True)


def _fast_accepts(url: str, obj: dict[str, Any]) -> bool:
    fast = _fast_validator(url)
    if fast is None:
        return False
    try:
        fast(obj)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def _core_schema_url(obj: dict[str, Any]) -> str:
    version = obj.get("stac_version", "1.0.0")
    kind = obj.get("type")
    if kind == "Feature":
        return f"https://schemas.stacspec.org/v{version}/item-spec/json-schema/item.json"
    if kind == "Collection":
        return (
            f"https://schemas.stacspec.org/v{version}/collection-spec/json-schema/collection.json"
        )
    return f"https://schemas.stacspec.org/v{version}/catalog-spec/json-schema/catalog.json"


def validate_stac(obj: dict[str, Any]) -> list[str]:
    """Validate a STAC item/collection dict against core and extension schemas.

    Returns the schema URLs used; raises ``ValidationError`` listing every problem found.
    """
    urls = [_core_schema_url(obj), *obj.get("stac_extensions", [])]
    problems: list[str] = []
    for url in urls:
        if _fast_accepts(url, obj):
            continue
        validator = _validator(url)
        if validator is None:
            problems.append(f"no offline schema for {url}")
            continue
        for err in validator.iter_errors(obj):
            # For oneOf/anyOf failures, the most relevant sub-error says what is really wrong.
            if err.context:
                err = jsonschema.exceptions.best_match(err.context) or err
            where = "/".join(str(p) for p in err.absolute_path) or "(root)"
            problems.append(f"{url.rsplit('/', 3)[-3]}: {where}: {err.message[:300]}")
    if problems:
        raise ValidationError(
            "STAC validation failed: " + "; ".join(problems[:20]), path=str(obj.get("id"))
        )
    return urls
