"""The GeoParquet writer's encodings: dictionaries for text only, the data read back as written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

from geo_platform.lib.vector.geoparquet import GeoParquetWriter, dictionary_columns


def test_dictionary_encoding_for_text_columns_only(tmp_path: Path) -> None:
    n = 5000
    attrs = pa.schema(
        [("code", pa.string()), ("value", pa.float64()), ("n", pa.int64()), ("day", pa.date32())]
    )
    assert dictionary_columns(attrs) == ["code"]
    batch = pa.record_batch(
        [
            pa.array([f"class {i % 7}" for i in range(n)]),
            pa.array(np.linspace(0.0, 1.0, n)),
            pa.array(np.arange(n)),
            pa.array(np.arange(n, dtype="int32")).cast(pa.date32()),
        ],
        schema=attrs,
    )
    x = np.linspace(-10.0, 10.0, n)
    wkb = pa.array(shapely.to_wkb(shapely.points(x, x)), pa.binary())
    writer = GeoParquetWriter(tmp_path / "t.parquet", attrs, "Point")
    writer.write(batch, wkb, np.stack([x, x, x, x], axis=1))
    writer.close()
    meta = pq.ParquetFile(tmp_path / "t.parquet").metadata.row_group(0)
    columns = [meta.column(i) for i in range(meta.num_columns)]
    encodings = {c.path_in_schema: c.encodings for c in columns}
    assert any("DICTIONARY" in e for e in encodings["code"])
    for plain in ("value", "n", "day", "geometry", "bbox.xmin"):
        assert not any("DICTIONARY" in e for e in encodings[plain]), (plain, encodings[plain])
    back = pq.read_table(tmp_path / "t.parquet")
    assert back.column("code").to_pylist() == batch.column("code").to_pylist()
    assert back.column("geometry").to_pylist() == wkb.to_pylist()
