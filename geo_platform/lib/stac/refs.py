"""What a STAC item points at, and the same item pointing at production instead.

A published item refers to its data by href: blobs in the silver container (a local absolute
path or a credential-free ``https://account/container/path`` URL) and PostGIS tables
(``postgresql://host:port/db?table=schema.table``, never with credentials). Promotion finds
those references, copies what they point at, and rewrites the hrefs. Everything here is pure
string work on dicts; blob paths go through ``naming.normalize_blob_path`` so an href cannot
smuggle ``..`` or an absolute path into a blob operation.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from geo_platform.lib.errors import UnsafePathError
from geo_platform.lib.naming import normalize_blob_path
from geo_platform.lib.stac_ext import RUN_ID, SOURCE_RUN, TABLE

_PROBE = "geo-platform-probe"


@dataclass(frozen=True)
class TableRef:
    """A PostGIS table an item refers to."""

    schema: str
    table: str

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}"


def database_href(url: str) -> str:
    """``postgresql://host:port/db`` of a connection URL: what table hrefs start with."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"postgresql://{host}{port}/{unquote(parts.path.lstrip('/'))}"


def table_href(db_href: str, ref: TableRef) -> str:
    """The credential-free href of a table (same format as ``PostGISResource.table_href``)."""
    return f"{db_href}?table={ref.schema}.{ref.table}"


def parse_table_href(href: str, db_href: str) -> TableRef | None:
    """The table an href names, if it is a table of the database ``db_href``; else None."""
    parts = urlsplit(href)
    if parts.scheme not in ("postgresql", "postgres"):
        return None
    base = f"postgresql://{parts.netloc.rsplit('@', 1)[-1]}{parts.path}"
    if base != db_href:
        return None
    name = parse_qs(parts.query).get("table", [""])[0]
    schema, _, table = name.partition(".")
    if not schema or not table:
        return None
    return TableRef(schema, table)


@dataclass(frozen=True)
class BlobLocation:
    """How hrefs of one container look: ``base`` + blob path (URL-quoted on Azure)."""

    container: str
    base: str

    @property
    def quoted(self) -> bool:
        return self.base.startswith(("http://", "https://"))

    def path_of(self, href: str) -> str | None:
        """The blob path of an href inside this container, None if it points elsewhere.

        Raises ``UnsafePathError`` for an href that is inside the container's base but would
        escape it (``..``, empty or absolute remainder).
        """
        if not href.startswith(self.base):
            return None
        rest = href[len(self.base) :]
        if self.quoted:
            rest = unquote(rest.split("?", 1)[0].split("#", 1)[0])
        if rest.startswith("/"):
            raise UnsafePathError("blob href escapes its container", path=href)
        return normalize_blob_path(rest)


def blob_location(container: str, href_of: Any) -> BlobLocation:
    """The ``BlobLocation`` of ``container`` given a store's ``href(container, path)``."""
    probe = href_of(container, _PROBE)
    if not probe.endswith(_PROBE):
        raise ValueError(f"cannot derive the href base of container {container!r}")
    return BlobLocation(container, probe[: -len(_PROBE)])


def asset_hrefs(item: Mapping[str, Any]) -> Iterator[str]:
    """Every asset href of an item."""
    for asset in (item.get("assets") or {}).values():
        href = asset.get("href") if isinstance(asset, Mapping) else None
        if isinstance(href, str):
            yield href


def rewrite_item(
    item: Mapping[str, Any],
    hrefs: Mapping[str, str],
    tables: Mapping[str, str],
    stamp: Mapping[str, Any],
) -> dict[str, Any]:
    """A copy of ``item`` with asset/link hrefs and table names replaced, and ``stamp`` added.

    ``hrefs`` maps old href -> new href; ``tables`` maps old ``schema.table`` -> new one (the
    ``geo_platform:table`` property). ``stamp`` holds the promotion properties; the producing
    run (``geo_platform:run_id``) is kept and also recorded as the source run.
    """
    out = copy.deepcopy(dict(item))
    for asset in (out.get("assets") or {}).values():
        if isinstance(asset, dict) and asset.get("href") in hrefs:
            asset["href"] = hrefs[asset["href"]]
    for link in out.get("links") or []:
        if isinstance(link, dict) and link.get("href") in hrefs:
            link["href"] = hrefs[link["href"]]
    props = out.setdefault("properties", {})
    if props.get(TABLE) in tables:
        props[TABLE] = tables[props[TABLE]]
    if RUN_ID in props:
        props[SOURCE_RUN] = props[RUN_ID]
    props.update(stamp)
    return out


def matches_spec(collection: str, spec: str) -> bool:
    """True when ``collection`` is listed in a comma-separated spec of ids and ``prefix*``."""
    for raw in spec.split(","):
        entry = raw.strip()
        if not entry:
            continue
        if entry.endswith("*"):
            if collection.startswith(entry[:-1]):
                return True
        elif collection == entry:
            return True
    return False
