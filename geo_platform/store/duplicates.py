"""The same content under two bronze names: detect it, publish it once, link the second name.

Why: people upload the same file twice (a copy in another folder, a renamed download). Building
COGs and tables twice wastes compute and storage and puts two identical items in the catalogue.

Detection uses what the catalogue already records, no registry of our own: every item carries
``geo_platform:source_sha256`` (the bronze file's SHA-256) and ``geo_platform:source_blob``. The
*original* of some content is the source whose items were created first; items that are
themselves links (``geo_platform:duplicate_of``) never count as originals.

With ``GEO_PLATFORM_DUPLICATES=link`` (the default) the second name gets *pointer items*: same
id, collection and provenance as it would have had, the original's geometry and date, no assets,
and a ``duplicate-of`` (plus IANA ``canonical``) link to the original item. With ``publish``
both names are published in full and the second is only flagged.

Two places use this: the silver stage calls ``find_duplicate`` before building anything (the
common case: a file re-uploaded later), and the catalog stage calls ``resolve_items`` right
before publishing, under a per-content lock, which also catches two copies that arrive in the
same batch (neither was in pgstac when their silver stage ran).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from geo_platform.lib.errors import ConfigError
from geo_platform.lib.stac_ext import (
    DUPLICATE_OF,
    DUPLICATE_OF_SOURCE,
    SIDECARS_SHA256,
    SOURCE_BLOB,
    SOURCE_SHA256,
    provenance_properties,
)
from geo_platform.lib.types import content_key
from geo_platform.store import pgstac

SHA_PROPERTY = SOURCE_SHA256
SOURCE_PROPERTY = SOURCE_BLOB
DUPLICATE_PROPERTY = DUPLICATE_OF
DUPLICATE_REL = "duplicate-of"
MODES = ("link", "publish")


@dataclass(frozen=True)
class Original:
    """The source that first published some content, and its items (collection, id), sorted."""

    source_blob: str
    items: tuple[tuple[str, str], ...]

    def as_dict(self) -> dict[str, Any]:
        return {"source_blob": self.source_blob, "items": [list(i) for i in self.items]}


@dataclass
class Resolution:
    """What the catalog stage should publish for one source."""

    items: list[dict[str, Any]]
    original: Original | None = None
    linked: list[str] = field(default_factory=list)


def duplicates_mode(value: str) -> str:
    """The configured mode ('link' when unset); ``ConfigError`` for anything else."""
    mode = (value or "link").strip().lower()
    if mode not in MODES:
        raise ConfigError(f"GEO_PLATFORM_DUPLICATES must be one of {MODES}, not {value!r}")
    return mode


def is_pointer(item: dict[str, Any]) -> bool:
    return DUPLICATE_PROPERTY in item.get("properties", {})


def find_duplicate(conn: psycopg.Connection[Any], key: str, blob: str) -> Original | None:
    """The original of content ``key`` (``Provenance.content_key``: the file's SHA-256, plus
    its sidecars' when it has some) when it is another source than ``blob``, else None.

    None also when ``blob`` is itself the original (it published that content first) or no
    published item has that content: the same file with other sidecars (another ``.prj``,
    another ``.dbf``) is other content.
    """
    sha256, _, sidecars = key.partition("+")
    pgstac.prepare(conn)
    query = sql.SQL(
        """SELECT content->'properties'->>%(src)s, collection, id,
                  coalesce(content->'properties'->>'created', datetime::text),
                  coalesce(content->'properties'->>%(side)s, '')
           FROM items
           WHERE {sha} = %(value)s
             AND NOT (content->'properties' ? %(dup)s)"""
    ).format(sha=pgstac.property_text(SHA_PROPERTY))  # indexed (pgstac.PROVENANCE_QUERYABLES)
    rows = conn.execute(
        query,
        {"src": SOURCE_PROPERTY, "value": sha256, "dup": DUPLICATE_PROPERTY,
         "side": SIDECARS_SHA256},
        prepare=True,  # the same query for every file of a run
    ).fetchall()  # fmt: skip
    first: dict[str, str] = {}
    items: dict[str, list[tuple[str, str]]] = {}
    for source, collection, item_id, created, their_sidecars in rows:
        if source is None or their_sidecars != sidecars:
            continue
        first[source] = min(first.get(source, created), created)
        items.setdefault(source, []).append((collection, item_id))
    if not first:
        return None
    original = min(first, key=lambda s: (first[s], s))
    if original == blob:
        return None
    return Original(original, tuple(sorted(items[original])))


def pointer_item(
    base: dict[str, Any],
    original: Original,
    target: tuple[str, str],
    *,
    item_id: str,
    collection_id: str,
    properties: dict[str, Any],
) -> dict[str, Any]:
    """A pointer item for a duplicate name: ``base``'s geometry, bbox and datetime, no assets,
    ``properties`` (the duplicate's own provenance), and links to the original ``target``."""
    props = base.get("properties", {})
    when = {k: props[k] for k in ("datetime", "start_datetime", "end_datetime") if k in props}
    if "datetime" not in when:
        when["datetime"] = None
    href = f"/collections/{target[0]}/items/{target[1]}"
    return {
        "type": "Feature",
        "stac_version": base.get("stac_version", "1.1.0"),
        "stac_extensions": [],
        "id": item_id,
        "collection": collection_id,
        "geometry": copy.deepcopy(base.get("geometry")),
        "bbox": list(base["bbox"]) if base.get("bbox") else None,
        "properties": {
            **when,
            "title": f"Duplicate of {original.source_blob}",
            **properties,
            DUPLICATE_PROPERTY: {
                "source_blob": original.source_blob,
                "collection": target[0],
                "id": target[1],
            },
        },
        "links": [
            {
                "rel": "collection",
                "href": f"/collections/{collection_id}",
                "type": "application/json",
            },
            {
                "rel": DUPLICATE_REL,
                "href": href,
                "type": "application/geo+json",
                "title": f"Same content, published from {original.source_blob}",
            },
            {"rel": "canonical", "href": href, "type": "application/geo+json"},
        ],
        "assets": {},
    }


def pointers_to(
    conn: psycopg.Connection[Any], collection: str, item_ids: list[str]
) -> dict[str, list[str]]:
    """Item id -> the pointer items (``collection/id``) that link to it as their original:
    other files whose content it is, published as pointers to its data."""
    pgstac.prepare(conn)
    rows = conn.execute(
        """SELECT content->'properties'->%(dup)s->>'id', collection, id FROM items
           WHERE content->'properties'->%(dup)s->>'collection' = %(c)s
             AND content->'properties'->%(dup)s->>'id' = ANY(%(ids)s)
           ORDER BY collection, id""",
        {"dup": DUPLICATE_PROPERTY, "c": collection, "ids": item_ids},
    ).fetchall()
    out: dict[str, list[str]] = {}
    for target, pc, pid in rows:
        out.setdefault(str(target), []).append(f"{pc}/{pid}")
    return out


def pointers_for(
    conn: psycopg.Connection[Any],
    original: Original,
    *,
    item_id_for: Callable[[dict[str, Any], int], str],
    collection_id: str,
    properties: dict[str, Any],
) -> list[dict[str, Any]]:
    """Pointer items for a duplicate source that is not built (the silver stage's skip path):
    one per original item, with the id ``item_id_for(original_item, number_of_items)`` gives
    (rasters: ``naming.item_id(blob)``; vectors: ``naming.table_name(blob, layer, n > 1)``)."""
    out = []
    for target in original.items:
        base = pgstac.get_item(conn, target[0], target[1]) or {}
        out.append(
            pointer_item(
                base,
                original,
                target,
                item_id=item_id_for(base, len(original.items)),
                collection_id=collection_id,
                properties=properties,
            )
        )
    return out


def content_of(items: list[dict[str, Any]]) -> str | None:
    """The one content key (``find_duplicate``) a source's items record (None for pointers or
    mixed/missing values)."""
    keys = set()
    for i in items:
        props = i.get("properties", {})
        sha = str(props.get(SHA_PROPERTY) or "")
        keys.add(content_key(sha, props.get(SIDECARS_SHA256)) if sha else "")
    keys.discard("")
    if len(keys) != 1 or not items or all(is_pointer(i) for i in items):
        return None
    return keys.pop()


def _created(items: list[dict[str, Any]]) -> str:
    return min(str(i.get("properties", {}).get("created") or "") for i in items)


def _link(items: list[dict[str, Any]], original: Original, mode: str) -> Resolution:
    if duplicates_mode(mode) == "publish":
        for item in items:
            item["properties"][DUPLICATE_OF_SOURCE] = original.source_blob
        return Resolution(items, original)
    pointers = []
    for n, item in enumerate(sorted(items, key=lambda i: str(i["id"]))):
        target = original.items[min(n, len(original.items) - 1)]
        pointers.append(
            pointer_item(
                item,
                original,
                target,
                item_id=str(item["id"]),
                collection_id=str(item["collection"]),
                properties=provenance_properties(item.get("properties", {})),
            )
        )
    return Resolution(pointers, original, [str(p["id"]) for p in pointers])


def resolve_sources(
    conn: psycopg.Connection[Any], by_source: dict[str, list[dict[str, Any]]], *, mode: str
) -> dict[str, Resolution]:
    """Items to publish per source for one batch: as given, or pointers (mode 'link') when the
    content was published under another name first, in pgstac or earlier in this batch (the
    earliest ``created``, then the name, is the original).

    Takes the pgstac write lock (``pgstac.lock_writes``), held until the caller's transaction
    ends: call it on the connection that then publishes, before it commits."""
    pgstac.lock_writes(conn)  # held until the caller's publish commits: one batch at a time
    out = {source: Resolution(items) for source, items in by_source.items()}
    groups: dict[str, list[str]] = {}
    for source, items in by_source.items():
        sha = content_of(items)
        if sha is not None:
            groups.setdefault(sha, []).append(source)
    for sha in sorted(groups):
        sources = sorted(groups[sha], key=lambda s: (_created(by_source[s]), s))
        original = find_duplicate(conn, sha, sources[0])
        if original is None:  # the batch's first source is (or becomes) the original
            first = sources.pop(0)
            keys = sorted((str(i["collection"]), str(i["id"])) for i in by_source[first])
            original = Original(first, tuple(keys))
        for source in sources:
            if source != original.source_blob:
                out[source] = _link(by_source[source], original, mode)
    return out


def resolve_items(
    conn: psycopg.Connection[Any], items: list[dict[str, Any]], *, blob: str, mode: str
) -> Resolution:
    """``resolve_sources`` for one source."""
    return resolve_sources(conn, {blob: items}, mode=mode)[blob]
