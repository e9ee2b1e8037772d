"""lib/vector/prefetch.py: a GeoJSON's reader opened while the file is listed changes no output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from geo_platform.lib.vector import prefetch
from geo_platform.lib.vector.options import VectorOptions
from geo_platform.lib.vector.prefetch import Prefetch, rechunked
from geo_platform_tests.lib.vector.conftest import loaded_digests, publish_file


def test_rechunked_gives_batches_of_the_size_asked() -> None:
    sizes = [5, 3, 10, 1, 0, 4]
    start, batches = 0, []
    for n in sizes:
        batches.append(pa.record_batch({"v": list(range(start, start + n))}))
        start += n
    out = list(rechunked(batches, 4))
    assert [b.num_rows for b in out] == [4, 4, 4, 4, 4, 3]
    assert [v for b in out for v in b.column(0).to_pylist()] == list(range(23))


def _geojson(path: Path, n: int, ids: bool) -> Path:
    """A FeatureCollection, or one feature per line for a ``.geojsonl`` (GeoJSONSeq)."""
    features = [
        {
            "type": "Feature",
            **({"id": 1000 + i} if ids else {}),
            "properties": {"name": f"f{i}", "v": None if i % 7 == 0 else i * 0.5},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[i % 90, 0], [i % 90 + 0.5, 0], [i % 90, 0.5], [i % 90, 0]]],
            },
        }
        for i in range(n)
    ]
    if path.suffix == ".geojsonl":
        path.write_text("".join(json.dumps(f) + "\n" for f in features))
    else:
        path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


@pytest.mark.parametrize(
    ("name", "ids"),
    [("parcels.geojson", True), ("parcels.geojson", False), ("parcels.geojsonl", True)],
)
def test_a_prefetched_geojson_publishes_the_same_tables_and_files(
    pg_conn, pg_schema, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, ids: bool
) -> None:
    src = _geojson(tmp_path / name, 3000, ids)
    monkeypatch.setattr(prefetch, "PREFETCH_ROWS", 256)  # re-sliced into the 700-row batches
    options = VectorOptions(batch_size=700)
    taken: list[Any] = []
    take = Prefetch.take

    def spy(self: Prefetch, layer: Any) -> Any:
        taken.append(take(self, layer))
        return taken[-1]

    monkeypatch.setattr(Prefetch, "take", spy)

    def load(run: str) -> tuple[Any, ...]:
        (t,) = publish_file(pg_conn, src, pg_schema, tmp_path / run, options)
        digest, parquet = loaded_digests(pg_conn, t)
        columns = [c.name for c in t.columns]
        return digest, parquet, columns, t.rows_loaded, t.repaired, t.bbox

    ahead = load("ahead")
    assert len(taken) == 1 and taken[0] is not None  # the prefetched reader was read
    monkeypatch.setattr(Prefetch, "worth_it", classmethod(lambda cls, path: False))
    assert load("plain") == ahead
    assert ahead[3] == 3000 and ("id" in ahead[2]) == ids
