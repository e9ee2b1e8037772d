"""Resume: ``tiles.json`` lists the finished tiles of one source version and option set, so a
re-run rebuilds only tiles that are missing, changed, or whose file no longer matches its
checksum. ``JsonManifest`` is shared with the visual tier's ``visual.json``."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geo_platform.lib.errors import ValidationError
from geo_platform.lib.raster.cog_steps import multihash_sha256
from geo_platform.lib.raster.tiling.plan import TileOutput, TileSpec, TilingOptions
from geo_platform.lib.raster.validate import validate_cog

MANIFEST_NAME = "tiles.json"
MANIFEST_VERSION = 1


@dataclass
class JsonManifest:
    """A JSON file of finished tiles under a header; the tiles are kept only when the header
    (version, item, source, options) is the same as the one asked for. Saved atomically."""

    path: Path
    header: dict[str, Any]
    tiles: dict[str, dict[str, Any]]

    @staticmethod
    def read_tiles(path: Path, header: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        if not path.is_file():
            return {}
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        if not all(old.get(k) == v for k, v in header.items()):
            return {}
        return dict(old.get("tiles", {}))

    def save(self) -> None:
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({**self.header, "tiles": self.tiles}, indent=1, sort_keys=True))
        os.replace(tmp, self.path)


class TileManifest(JsonManifest):
    """``tiles.json``: finished tiles of one source version and option set."""

    @classmethod
    def load(
        cls,
        out_dir: Path,
        item_id: str,
        source: str,
        options_key: str,
        grid: dict[str, Any] | None = None,
    ) -> TileManifest:
        path = out_dir / MANIFEST_NAME
        header = {
            "version": MANIFEST_VERSION,
            "item_id": item_id,
            "source": source,
            "options": options_key,
            "grid": grid,  # target CRS and grid when reprojected (None: the source grid)
        }
        return cls(path, header, cls.read_tiles(path, header))

    def record(self, tile: TileOutput) -> None:
        if tile.empty:
            self.tiles[tile.spec.tile_id] = {"window": list(tile.spec.window), "empty": True}
            self.save()
            return
        self.tiles[tile.spec.tile_id] = {
            "row": tile.spec.row,
            "col": tile.spec.col,
            "window": list(tile.spec.window),
            "file": tile.spec.filename,
            "size": tile.size_bytes,
            "checksum": tile.checksum,
        }
        self.save()


def reusable_tile(
    out_dir: Path, manifest: TileManifest, spec: TileSpec, options: TilingOptions
) -> TileOutput | None:
    """The tile from an earlier run, if its manifest entry, file and checksum still agree."""
    entry = manifest.tiles.get(spec.tile_id)
    path = out_dir / spec.filename
    if not entry or list(entry["window"]) != list(spec.window):
        return None
    if entry.get("empty"):
        return TileOutput(spec, path, 0, "", reused=True, empty=True)
    if not tile_intact(path, entry, options):
        return None
    return TileOutput(spec, path, entry["size"], entry["checksum"], reused=True)


def tile_intact(path: Path, entry: Mapping[str, Any], options: TilingOptions) -> bool:
    """Whether a tile file from an earlier run still matches its manifest ``entry`` (size, and
    checksum and COG validity unless ``options`` skip them)."""
    if not path.is_file() or path.stat().st_size != entry["size"]:
        return False
    if options.verify_checksums and multihash_sha256(path) != entry["checksum"]:
        return False
    if options.validate:
        try:
            validate_cog(path)
        except ValidationError:
            return False
    return True
