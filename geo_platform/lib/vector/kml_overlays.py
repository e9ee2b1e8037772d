"""The GroundOverlay images of a KML or KMZ file (a scanned map draped in Google Earth).

GDAL's KML drivers give each overlay as a feature (its footprint and the image's href), not the
image: the vector pipeline publishes the footprint and names each overlay among the layers not
published (``publish_vector``), so the picture is never dropped silently. ``gdal_translate``
turns such a KMZ into a georeferenced GeoTIFF, which publishes as a raster.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

from geo_platform.lib.errors import EmptyDatasetError

MAX_KML_BYTES = 64 * 2**20
"""KML documents larger than this are not searched for overlays."""


def ground_overlays(path: Path) -> list[str]:
    """``"<name> (<image href>)"`` of every GroundOverlay in a ``.kml`` or ``.kmz`` file; []
    for any other file, or one that cannot be parsed (its own reader reports that)."""
    return _elements(path, "GroundOverlay")


def network_links(path: Path) -> list[str]:
    """``"<name> (<href>)"`` of every NetworkLink of a ``.kml`` or ``.kmz`` file (a live feed
    Google Earth fetches; the platform publishes what a file holds and fetches no URL)."""
    return _elements(path, "NetworkLink")


def unread_kml_members(path: Path) -> list[str]:
    """The ``.kml`` members of a KMZ that GDAL does not read: its LIBKML driver reads the
    first one in the zip (``doc.kml`` by convention) and no other, unless linked from it,
    which the platform does not follow either (``network_links``). [] for anything else."""
    if path.suffix.lower() != ".kmz":
        return []
    try:
        with zipfile.ZipFile(path) as kmz:
            kmls = [i.filename for i in kmz.infolist() if i.filename.lower().endswith(".kml")]
    except (OSError, zipfile.BadZipFile):
        return []
    return kmls[1:]


# What GDAL's KML drivers make features or layers of (a prefix such as ``kml:`` allowed).
_FEATURES = re.compile(
    rb"<(?:[\w.-]+:)?(?:Placemark|Folder|NetworkLink|GroundOverlay|ScreenOverlay|PhotoOverlay)"
    rb"[\s/>]"
)
_STYLES = re.compile(rb"<(?:[\w.-]+:)?Style(?:Map)?[\s/>]")


def require_placemarks(path: Path, display: str, chunk: int = 1 << 20) -> None:
    """Refuse a ``.kml`` without a Placemark, Folder, NetworkLink or overlay (a file of shared
    styles, an empty Document) with an ``EmptyDatasetError`` that says so: GDAL finds no layer
    in it at all. The bytes are searched as they are; text in UTF-16 is left to GDAL."""
    styles, tail = False, b""
    with path.open("rb") as fh:
        while data := fh.read(chunk):
            if not tail and b"\x00" in data[:4096]:
                return  # UTF-16 (or not text): not searched
            data = tail + data
            if _FEATURES.search(data):
                return
            styles = styles or _STYLES.search(data) is not None
            tail = data[-64:]
    what = "only styles" if styles else "no features"
    raise EmptyDatasetError(
        f"the KML holds no placemarks ({what}: no Placemark, Folder, NetworkLink or overlay), "
        "so there is nothing to publish",
        path=display,
    )


def _elements(path: Path, tag: str) -> list[str]:
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as kmz:
                docs = [
                    kmz.read(i)
                    for i in kmz.infolist()
                    if i.filename.lower().endswith(".kml") and i.file_size <= MAX_KML_BYTES
                ]
        elif path.stat().st_size <= MAX_KML_BYTES:
            docs = [path.read_bytes()]
        else:
            return []
    except (OSError, zipfile.BadZipFile):
        return []
    return [found for doc in docs if tag.encode() in doc for found in _named(doc, tag)]


def _named(doc: bytes, tag: str) -> list[str]:
    try:
        root = ElementTree.fromstring(doc)
    except ElementTree.ParseError:
        return []
    out = []
    for element in root.iter():
        if _local(element.tag) != tag:
            continue
        name = next((c.text or "" for c in element if _local(c.tag) == "name"), "").strip()
        href = next((h.text or "" for h in element.iter() if _local(h.tag) == "href"), "").strip()
        out.append(f"{name or tag} ({href or 'no href'})")
    return out


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1]
